"""The conformance matrix the pytest suite writes (results/conformance/matrix.json):

    {"implementations": {impl: {prop: "pass" | "FAIL" | "n/a"}},
     "properties": {prop: title},
     "failures": {...}}

"failures" is shown as given: {impl: {prop: message}}, {key: message} or a list.
"""

import json
from dataclasses import dataclass, field


@dataclass
class Matrix:
    impls: list
    properties: list                      # ids, in the file's order
    titles: dict
    cells: dict                           # (impl, prop) -> status
    failures: list = field(default_factory=list)   # [(what, message)]

    def status(self, impl, prop):
        return self.cells.get((impl, prop), "—")

    def tested(self):
        """Properties with a result for at least one implementation."""
        return [p for p in self.properties if any((i, p) in self.cells for i in self.impls)]


def _failures(raw):
    out = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(value, dict):
                out += [(f"{key} / {k}", v) for k, v in value.items()]
            elif isinstance(value, list):
                out += [(str(key), v) for v in value]
            else:
                out.append((str(key), value))
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                what = " / ".join(str(item[k]) for k in ("impl", "implementation", "property", "test")
                                  if item.get(k))
                msg = item.get("message") or item.get("error") or item.get("longrepr") or ""
                out.append((what or "?", msg))
            else:
                out.append(("", item))
    return [(w, " ".join(str(m).split())[:300]) for w, m in out]


def load_matrix(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    impls_raw = doc.get("implementations") or {}
    titles = {str(k): str(v) for k, v in (doc.get("properties") or {}).items()}
    props = list(titles)
    cells = {}
    for impl, statuses in impls_raw.items():
        for prop, status in (statuses or {}).items():
            cells[impl, prop] = str(status)
            if prop not in props:
                props.append(prop)
    return Matrix(sorted(impls_raw), props, titles, cells, _failures(doc.get("failures")))
