#!/usr/bin/env python3
"""Writes a Tollgate SQLite database holding N virtual keys (`sk-bench-0` … `sk-bench-N-1`, each
with a $100 budget), for benchmarks at scale (bench/scripts/callgrind-per-request.sh CG_DB /
CG_KEYS). TEMPLATE is a database a Tollgate made (its schema) holding one key made through
`/key/generate`; its document is the model of the others.

usage: bench/scripts/make-keys-db.py TEMPLATE.sqlite OUT.sqlite KEYS.txt N
"""
import hashlib, json, shutil, sqlite3, sys

template, out, keys_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
shutil.copyfile(template, out)
db = sqlite3.connect(out)
(doc,) = db.execute("SELECT doc FROM tollgate_entities WHERE kind = 'key' LIMIT 1").fetchone()
model = json.loads(doc)
db.execute("DELETE FROM tollgate_entities WHERE kind = 'key'")
rows, keys = [], []
for i in range(n):
    key = f"sk-bench-{i}"
    d = dict(model, key_alias=f"k{i}", key_name=f"sk-...{key[-4:]}", max_budget=100.0)
    rows.append(("key", hashlib.sha256(key.encode()).hexdigest(), json.dumps(d, separators=(",", ":"))))
    keys.append(key)
db.executemany("INSERT INTO tollgate_entities (kind, id, doc) VALUES (?, ?, ?)", rows)
db.commit()
open(keys_file, "w").write("\n".join(keys) + "\n")
print(f"{out}: {n} keys")
