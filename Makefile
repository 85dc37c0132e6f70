# Chores for running the lottery with Docker. The Compose file is compose.yaml
# (five agencies, the repo's samples in .data/); use another one with
#   make docker-compose-up COMPOSE_FILE=docker-compose-dev.yaml
# after `make compose-file COMPOSE_FILE=docker-compose-dev.yaml AGENCIES=3`.

SHELL := /bin/bash
COMPOSE_FILE ?= compose.yaml
AGENCIES ?= 5
COMPOSE := docker compose -f $(COMPOSE_FILE)

.PHONY: help compose-file docker-image docker-compose-up docker-compose-down \
        docker-compose-logs docker-compose-bets echo-check test-docker

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-22s %s\n", $$1, $$2 }'

compose-file: ## write COMPOSE_FILE for AGENCIES agencies (generate-compose.sh)
	./generate-compose.sh $(COMPOSE_FILE) $(AGENCIES)

docker-image: ## build the server and client images
	$(COMPOSE) build

docker-compose-up: ## build (cached) and start the server and every agency in the background
	$(COMPOSE) up -d --build

docker-compose-down: ## stop everything (SIGTERM, exit code 0) and remove containers, network and the lottery's volume
	$(COMPOSE) stop -t 10
	$(COMPOSE) down -v --remove-orphans

docker-compose-logs: ## follow the logs of every container
	$(COMPOSE) logs -f

docker-compose-bets: ## copy the server's stored bets to ./bets.csv
	$(COMPOSE) cp server:/var/lib/lottery/bets.csv ./bets.csv

echo-check: ## check the running server with the Echo message
	./validate-echo-server.sh

test-docker: ## the container test suite (needs a Docker engine)
	npm run test:docker
