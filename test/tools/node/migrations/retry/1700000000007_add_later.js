// Its ALTER TABLE has to wait behind a reader; readers queue behind it.
exports.up = (pgm) => {
  pgm.addColumn('np_big3', { later: { type: 'integer' } });
};
