import pkg from '../../package.json';

/** Whittle's version (package.json), recorded in exported models and printed in reports. */
export const whittleVersion: string = pkg.version;
