#!/bin/sh
# check-man.sh PAGE: fails when the man page PAGE has a formatting warning
# (groff -ww, every warning on), an unsubstituted @placeholder@, or, when
# mandoc is installed, a lint message of level warning or worse. Exits 77
# (skip) without groff.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
page=$1
if ! command -v groff >/dev/null 2>&1; then
  echo "groff is not installed" >&2
  exit 77
fi
status=0
if grep -n '@[A-Za-z_]*@' "$page"; then
  echo "$page: placeholder left" >&2
  status=1
fi
out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
if [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  status=1
fi
if command -v mandoc >/dev/null 2>&1; then
  out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
  if [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    status=1
  fi
fi
exit $status
