/** The ASCII bytes the codecs, the CSV writer and the scanners look for. */
export const NEWLINE = 0x0a;
export const SPACE = 0x20;
export const QUOTE = 0x22;
export const COMMA = 0x2c;
export const DASH = 0x2d;
export const ZERO = 0x30;
export const NINE = 0x39;
export const DEL = 0x7f;
