#!/usr/bin/python3
# Runs every ```python block of README.md as written, each in a fresh
# interpreter in a scratch directory that has test_certs/ (made with
# `securecomm gen-certs`), and checks that it printed the reply. Usage:
# readme_examples.py README.md SECURECOMM_TOOL. TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
import re
import subprocess
import sys
import tempfile

readme, tool = sys.argv[1], sys.argv[2]
blocks = re.findall(r"^```python\n(.*?)^```$", open(readme).read(), re.S | re.M)
work = tempfile.mkdtemp(prefix="sc-readme-")
subprocess.run([tool, "gen-certs", f"{work}/test_certs"], check=True, capture_output=True)
print(f"1..{len(blocks)}")
failed = 0
for n, code in enumerate(blocks, 1):
    try:
        run = subprocess.run(["/usr/bin/python3", "-c", code], cwd=work, capture_output=True,
                             text=True, timeout=60)
        out, rc = run.stdout, run.returncode
    except subprocess.TimeoutExpired:
        out, rc = "(timed out after 60 s)", -1
    ok = rc == 0 and "client got 'Hello back, client!'" in out \
        and "server got 'Hello, secure world!'" in out
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - README python example {n} runs as written")
    if not ok:
        for line in (out + (run.stderr if rc != -1 else "")).splitlines():
            print(f"# {line}")
sys.exit(1 if failed or not blocks else 0)
