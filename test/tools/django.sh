# shellcheck shell=bash
test_django() { :; }
