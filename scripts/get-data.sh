#!/usr/bin/env bash
# Make Fashion-MNIST available for the search (the tests make their own data).
# Order: $ATTNAS_DATA, ./data, /usr/share/datasets/fashion-mnist; if none holds it
# and we run as root with apt-get, install Debian's dataset-fashion-mnist.
set -euo pipefail
have() { ls "$1"/train-images-idx3-ubyte* >/dev/null 2>&1; }
for d in "${ATTNAS_DATA:-}" data /usr/share/datasets/fashion-mnist; do
  if [ -n "$d" ] && have "$d"; then echo "Fashion-MNIST found in $d"; exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's dataset-fashion-mnist"
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  have /usr/share/datasets/fashion-mnist && exit 0
fi
echo "Fashion-MNIST not found: install Debian's dataset-fashion-mnist (as root), copy the" \
     "four IDX files into ./data, or set ATTNAS_DATA to a folder that holds them." >&2
exit 1
