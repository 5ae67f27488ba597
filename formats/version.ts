/** The RepliCode release that writes traces (kept equal to package.json's version by a test). */
export const replicodeVersion = '0.1.0';
