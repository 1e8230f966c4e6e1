// Two pending migrations run in one transaction (node-pg-migrate's default):
// this one takes ACCESS EXCLUSIVE on np_big2 ...
exports.up = (pgm) => {
  pgm.addColumn('np_big2', { extra: { type: 'integer' } });
};
