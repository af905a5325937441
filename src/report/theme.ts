import { rgb, type RGB } from 'pdf-lib';

const hex = (h: string): RGB =>
  rgb(
    parseInt(h.slice(1, 3), 16) / 255,
    parseInt(h.slice(3, 5), 16) / 255,
    parseInt(h.slice(5, 7), 16) / 255,
  );

/** The report's colours: dark ink, one accent for the final model, muted greys, good/bad for changes. */
export const colors = {
  ink: hex('#1f2933'),
  text: hex('#323f4b'),
  muted: hex('#616e7c'),
  faint: hex('#9aa5b1'),
  rule: hex('#cbd2d9'),
  grid: hex('#e4e7eb'),
  headerFill: hex('#eef2f7'),
  zebra: hex('#f7f9fb'),
  white: hex('#ffffff'),
  accent: hex('#2660c9'),
  accentDark: hex('#163d82'),
  accentLight: hex('#a9c3ef'),
  accentFill: hex('#eaf1fc'),
  original: hex('#7b8794'),
  originalLight: hex('#c5ccd4'),
  good: hex('#127a52'),
  goodFill: hex('#e3f5ec'),
  bad: hex('#c0392b'),
  badFill: hex('#fbe9e7'),
  warn: hex('#b7791f'),
  changed: hex('#e07a1f'),
  changedFill: hex('#fdebd8'),
};

/** Distinct series colours for line charts (colour-blind friendly, print well). */
export const seriesColors: RGB[] = [
  hex('#2660c9'),
  hex('#e07a1f'),
  hex('#127a52'),
  hex('#c0392b'),
  hex('#7b4fb3'),
  hex('#0f8a9d'),
  hex('#b7791f'),
  hex('#d14d8b'),
];

/** A4 in points and the margins of every page. */
export const page = {
  width: 595.28,
  height: 841.89,
  marginX: 48,
  marginTop: 58,
  marginBottom: 54,
};

/** Font sizes (points). */
export const sizes = {
  title: 24,
  h1: 15,
  h2: 11,
  body: 9,
  table: 7.5,
  small: 7,
  tiny: 6,
};
