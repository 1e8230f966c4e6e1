// ... and this one keeps working while that lock is held.
exports.up = (pgm) => {
  pgm.sql('SELECT pg_sleep(6)');
};
