# shellcheck shell=bash
test_sqitch() { :; }
