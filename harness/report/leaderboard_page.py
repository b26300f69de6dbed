"""``<results>/leaderboard.html``: one self-contained page (inline CSS and JavaScript, no network) with a table of
models × tasks: the main score under each condition, the delta against ``none`` with its 95% CI, and the model's
rank under each condition. Sortable by any column, filterable by task, model and condition, with the state in
the URL hash so a link reproduces a view::

    leaderboard.html#sort=delta:blog&dir=desc&task=TemperatureBySensation&condition=blog

``base=<b>`` switches the Δ columns to another baseline (each one ``aggregate`` computed deltas against: ``format``,
``placebo`` …; their keys are ``delta@<b>:<c>``).
``sort`` is a column key (``model``, ``task``, ``subset``, ``score:<c>``, ``delta:<c>``, ``rank:<c>``); a bare
``score``/``delta``/``rank`` means the filtered condition's column (else ``none``'s score and rank, and the delta of
the first condition that changed any input). Without JavaScript the
page is the full static table in model, task order.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.analysis import robust_score
from harness.core import atomic
from harness.prompts.conditions import BASELINE, order_conditions
from harness.results.schema import identical_inputs, significant

PAGE = "leaderboard.html"
ALPHA = 0.05
KEYS = ["alias", "model", "revision", "task", "subset", "split", "metric"]


def table(board: pd.DataFrame, d: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per model × task × subset × split (main metric): ``score:<c>``, ``delta:<c>`` (+ ``ci_low:<c>``,
    ``ci_high:<c>``, ``p_holm:<c>``, ``identical:<c>``, ``significant:<c>``) and ``rank:<c>`` columns; and the
    conditions in order."""
    main = board[(board.kind == "mteb") & board.is_main]
    conds = order_conditions(set(main.condition))
    wide = main.pivot_table(index=KEYS, columns="condition", values="score", aggfunc="first")
    wide.columns = [f"score:{c}" for c in wide.columns]
    wide = wide.reset_index()
    if "official_kind" in main.columns:  # which instruction `official` gave (shown under its score)
        kinds = main[main.condition == "official"][[*KEYS, "official_kind"]].drop_duplicates(KEYS)
        wide = wide.merge(kinds, on=KEYS, how="left")
    for c in conds:
        # rank among the models on the same task, subset and split (1 = best; ties share the better rank)
        wide[f"rank:{c}"] = wide.groupby(["task", "subset", "split"])[f"score:{c}"].rank(ascending=False,
                                                                                        method="min")
    for b in baselines(d):
        md = d[(d.kind == "mteb") & d.is_main & (d.baseline == b)]
        for c in conds:
            if c == b or (not (md.condition == c).any() and b != BASELINE):
                continue
            rows = md[md.condition == c]
            part = rows[[*KEYS, "delta", "ci_low", "ci_high", "p_holm"]].assign(
                identical=identical_inputs(rows).to_numpy(), significant=significant(rows).to_numpy())
            part.columns = [*KEYS, *(_key(k, c, b) for k in ("delta", "ci_low", "ci_high", "p_holm", "identical",
                                                             "significant"))]
            wide = wide.merge(part, on=KEYS, how="left")
    wide = _with_robust(wide, board)
    return wide.sort_values(["alias", "task", "subset", "split"], ignore_index=True), conds


ROBUST = (("mean", "mean_score"), ("worst", "worst_score"), ("best", "best_score"), ("n", "n_variants"),
          ("blog_pct", "blog_percentile"), ("official_pct", "official_percentile"), ("rank_mean", "rank_by_mean"))


def _with_robust(wide: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    """The prompt-robust score (robust_score.py) per variant set as ``robust:<set>:<field>`` columns: mean, worst
    and best main score over the set's variants, and where blog and official fall among them (percentile)."""
    rob = robust_score.table(board)
    for name, g in rob.groupby("variant_set", sort=True):
        part = g[[*KEYS, *(src for _, src in ROBUST)]].drop_duplicates(KEYS)
        part.columns = [*KEYS, *(f"robust:{name}:{k}" for k, _ in ROBUST)]
        wide = wide.merge(part, on=KEYS, how="left")
    return wide


def robust_sets(wide: pd.DataFrame) -> list[str]:
    """The variant sets with prompt-robust columns in ``table``'s frame, in name order."""
    return sorted({c.split(":")[1] for c in wide.columns if c.startswith("robust:") and c.endswith(":mean")})


def baselines(d: pd.DataFrame) -> list[str]:
    """The baselines the page can switch its Δ columns to: every baseline of a main-metric delta in
    ``deltas.parquet`` (none first; format, placebo … where aggregate computed deltas against them)."""
    main = d[(d.kind == "mteb") & d.is_main] if not d.empty else d
    found = set(main.baseline) if not main.empty else set()
    return [BASELINE, *(b for b in order_conditions(found) if b != BASELINE)]


def _key(kind: str, c: str, b: str = BASELINE) -> str:
    """A column key: ``delta:<c>`` against none (the keys links use), ``delta@<b>:<c>`` against another baseline."""
    return f"{kind}:{c}" if b == BASELINE else f"{kind}@{b}:{c}"


def _delta_columns(wide: pd.DataFrame, conds: list[str], b: str) -> list[str]:
    """The conditions with a Δ column against ``b`` (against none: every other condition)."""
    return [c for c in conds if c != b and (b == BASELINE or _key("delta", c, b) in wide.columns)]


def _num(v: object) -> float | None:
    return None if v is None or pd.isna(v) else float(v)  # type: ignore[arg-type]


def _td(key: str, value: str, sort_value: object, cond: str = "", cls: str = "", base: str = "") -> str:
    attrs = f' data-key="{html.escape(key)}"'
    if cond:
        attrs += f' data-cond="{html.escape(cond)}"'
    v = _num(sort_value) if not isinstance(sort_value, str) else sort_value
    attrs += f' data-v="{html.escape(str(v if v is not None else ""))}"'
    if base:
        attrs += f' data-base="{html.escape(base)}"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<td{attrs}>{value}</td>"


def _delta_cell(r: pd.Series, c: str, b: str = BASELINE) -> str:
    key = _key("delta", c, b)
    base = "" if b == BASELINE else b
    delta = _num(r.get(key))
    if delta is None:
        return _td(key, "—", None, c, base=base)
    if bool(r.get(_key("identical", c, b))):
        return _td(key, f'<span class="same">= {html.escape(b)}</span>', 0.0, c, "same", base=base)
    lo, hi = (_num(r.get(_key(k, c, b))) for k in ("ci_low", "ci_high"))
    sig = bool(r.get(_key("significant", c, b)))
    ci = f"<small>[{lo:+.3f}, {hi:+.3f}]</small>" if lo is not None and hi is not None else "<small>no CI</small>"
    cls = ("up" if delta > 0 else "down") if sig else ""
    return _td(key, f"{delta:+.4f}{' *' if sig else ''}<br>{ci}", delta, c, cls, base=base)


def render(board: pd.DataFrame, d: pd.DataFrame, *, source: str = "") -> str:
    wide, conds = table(board, d)
    others = [c for c in conds if c != BASELINE]
    # the Δ columns against each baseline the page can switch to (none's shown first; the select picks one)
    bases = [b for b in baselines(d) if b in conds and (b == BASELINE or _delta_columns(wide, conds, b))]
    if BASELINE not in conds:
        bases = []
    heads = ['<th rowspan="2" data-key="model">model</th>', '<th rowspan="2" data-key="task">task</th>',
             '<th rowspan="2" data-key="subset">subset</th>',
             f'<th colspan="{len(conds)}" class="group" data-group="score">main score</th>']
    sub = [f'<th data-key="score:{html.escape(c)}" data-cond="{html.escape(c)}">{html.escape(c)}</th>' for c in conds]
    for b in bases:
        cols = _delta_columns(wide, conds, b)
        if not cols:
            continue
        group = "delta" if b == BASELINE else f"delta@{b}"
        attr = "" if b == BASELINE else f' data-base="{html.escape(b)}"'
        heads.append(f'<th colspan="{len(cols)}" class="group" data-group="{html.escape(group)}"{attr}>Δ vs '
                     f"{html.escape(b)} [95% CI]</th>")
        sub += [f'<th data-key="{html.escape(_key("delta", c, b))}" data-cond="{html.escape(c)}"{attr}>'
                f"{html.escape(c)}</th>" for c in cols]
    heads.append(f'<th colspan="{len(conds)}" class="group" data-group="rank">rank</th>')
    sub += [f'<th data-key="rank:{html.escape(c)}" data-cond="{html.escape(c)}">{html.escape(c)}</th>' for c in conds]
    sets = robust_sets(wide)
    for vs in sets:  # no data-cond: the condition filter never hides them
        heads.append(f'<th colspan="5" class="group" data-group="robust:{html.escape(vs)}">prompt-robust over '
                     f"{html.escape(vs)}</th>")
        sub += [f'<th data-key="robust:{html.escape(vs)}:{k}" title="{html.escape(t)}">{label}</th>'
                for k, label, t in _ROBUST_HEADS]
    rows = []
    for _, r in wide.iterrows():
        cells = [_td("model", f'<span title="{html.escape(f"{r.model} @ {r.revision}")}">{html.escape(r.alias)}'
                     "</span>", r.alias),
                 _td("task", f"{html.escape(r.task)}<br><small>{html.escape(r.metric)}</small>", r.task),
                 _td("subset", html.escape(r.subset if r.split == "test" else f"{r.subset}/{r.split}"), r.subset)]
        for c in conds:
            s = _num(r.get(f"score:{c}"))
            kind = r.get("official_kind") if c == "official" else None
            note = f"<br><small>{html.escape(str(kind))}</small>" if isinstance(kind, str) else ""
            cells.append(_td(f"score:{c}", ("—" if s is None else f"{s:.4f}") + note, s, c))
        for b in bases:
            cells += [_delta_cell(r, c, b) for c in _delta_columns(wide, conds, b)]
        for c in conds:
            k = _num(r.get(f"rank:{c}"))
            cells.append(_td(f"rank:{c}", "—" if k is None else str(int(k)), k, c))
        for vs in sets:
            cells += _robust_cells(r, vs)
        rows.append(f'<tr data-task="{html.escape(r.task)}" data-model="{html.escape(r.alias)}">{"".join(cells)}'
                    "</tr>")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # a bare `sort=delta` without a condition filter: the first condition that changed any input
    tested = [c for c in others if f"delta:{c}" in wide
              and any(pd.notna(v) and not bool(same) for v, same in zip(wide[f"delta:{c}"], wide[f"identical:{c}"],
                                                                       strict=True))]
    meta = json.dumps({"conditions": conds, "tasks": sorted(set(wide.task)), "models": sorted(set(wide.alias)),
                       "deltaDefault": (tested or others or conds)[0], "baselines": bases or [BASELINE]})
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Instruction harness leaderboard</title><style>{CSS}</style></head><body>"
        "<h1>Leaderboard: main scores per condition</h1>"
        f"<p class=\"muted\">{html.escape(source)} · generated {stamp} by <code>harness aggregate</code>. "
        f"Δ: condition − {BASELINE} (or the baseline chosen above the table: each baseline aggregate computed "
        f"deltas against) with its paired-bootstrap 95% CI; * and colour: significant (permutation p "
        f"Holm-adjusted within the model's deltas against that baseline &lt; {ALPHA} beyond its Monte-Carlo "
        f"error); <q>= {BASELINE}</q>: the condition fed exactly the strings of {BASELINE}. Rank: among the "
        "models on the same task and subset (1 = best). Prompt-robust (where a variant set such as the paraphrases "
        "ran): the mean main score over its variants [worst, best], where blog and official fall among them "
        "(percentile: 0 below every variant, 100 above every one) and the rank by that mean. Any other baseline: "
        "<code>harness compare --baseline B</code>.</p>"
        "<form id=\"controls\" hidden><label>task <select name=\"task\"></select></label> "
        "<label>model <select name=\"model\"></select></label> "
        "<label>condition <select name=\"condition\"></select></label> "
        "<label>Δ baseline <select name=\"base\"></select></label> "
        "<button type=\"button\" id=\"reset\">reset</button> <span id=\"count\" class=\"muted\"></span>"
        "<span class=\"muted\"> · click a column to sort; the address bar keeps the view</span></form>"
        "<noscript><p class=\"muted\">Sorting and filtering need JavaScript; this is the full table.</p></noscript>"
        f"<table id=\"board\"><thead><tr>{''.join(heads)}</tr><tr>{''.join(sub)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<script id=\"meta\" type=\"application/json\">{_script_json(meta)}</script>"
        f"<script>{JS}</script></body></html>\n"
    )


_ROBUST_HEADS = (("mean", "mean [worst, best]", "mean main score over the variants [worst, best]"),
                 ("worst", "worst", "the worst variant's main score"),
                 ("blog_pct", "blog pct", "blog's percentile among the variants (0: below all, 100: above all)"),
                 ("official_pct", "official pct", "official's percentile among the variants"),
                 ("rank_mean", "rank", "the model's rank by the mean over the variants"))


def _robust_cells(r: pd.Series, vs: str) -> list[str]:
    """The five prompt-robust cells of one row for variant set ``vs`` (— where the row has none)."""
    def get(k: str) -> float | None:
        return _num(r.get(f"robust:{vs}:{k}"))

    mean, worst, best, n = get("mean"), get("worst"), get("best"), get("n")
    key = f"robust:{vs}"
    if mean is None or worst is None or best is None:
        return [_td(f"{key}:{k}", "—", None) for k, _, _ in _ROBUST_HEADS]
    cells = [_td(f"{key}:mean", f"{mean:.4f}<br><small>[{worst:.4f}, {best:.4f}] · {int(n or 0)} variants</small>",
                 mean),
             _td(f"{key}:worst", f"{worst:.4f}", worst)]
    for k in ("blog_pct", "official_pct"):
        v = get(k)
        cells.append(_td(f"{key}:{k}", "—" if v is None else f"{v:.0f}", v))
    rank = get("rank_mean")
    cells.append(_td(f"{key}:rank_mean", "—" if rank is None else str(int(rank)), rank))
    return cells


def _script_json(text: str) -> str:
    """JSON safe inside <script> (script content is not HTML-decoded, so escape as JSON, not as HTML)."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def write(results_dir: Path, board: pd.DataFrame, d: pd.DataFrame, *, out: Path | None = None) -> Path:
    path = (out or results_dir) / PAGE
    atomic.write_text(path, render(board, d, source=f"Results of {results_dir}"))
    return path


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1240px;
color:#222;padding:0 .8rem;line-height:1.4}
h1{font-size:1.45rem;margin:.2rem 0}.muted{color:#555;font-size:.88rem}
form{margin:.8rem 0;font-size:.9rem}select{margin-right:.6rem;max-width:16rem}
table{border-collapse:collapse;font-size:.84rem;width:100%}
th,td{border:1px solid #ddd;padding:.2rem .35rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f4f4f4;position:sticky;top:0}th[data-key]{cursor:pointer;user-select:none}
th.group{text-align:center;cursor:default}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td[data-key^="score:"],td[data-key^="delta:"],td[data-key^="rank:"],td[data-key^="robust:"]{text-align:right;white-space:nowrap;
font-variant-numeric:tabular-nums}
td small{color:#555;font-size:.76rem}td.up{background:#e6f4ea}td.down{background:#fde8e8}td.same{color:#777}
tbody tr:hover td{background:#fafae6}
"""

JS = r"""
(function () {
  var meta = JSON.parse(document.getElementById("meta").textContent);
  var table = document.getElementById("board"), body = table.tBodies[0];
  var form = document.getElementById("controls");
  var rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (r, i) { r.dataset.i = i; });
  var state = {};
  function fill(name, values) {
    var sel = form.elements[name];
    sel.add(new Option("all", ""));
    values.forEach(function (v) { sel.add(new Option(v, v)); });
  }
  fill("task", meta.tasks); fill("model", meta.models); fill("condition", meta.conditions);
  meta.baselines.forEach(function (b) { form.elements.base.add(new Option(b, b)); });
  function base(s) { return meta.baselines.indexOf(s.base) >= 0 ? s.base : meta.baselines[0]; }
  form.hidden = false;
  function parse() {
    var s = {}, h = location.hash.replace(/^#/, "");
    h.split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("="), k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
      s[k] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1));
    });
    return s;
  }
  function sortKey(s) {
    var k = s.sort || "";
    if (/^(score|delta|rank)$/.test(k)) {
      var c = s.condition || (k === "delta" ? meta.deltaDefault : meta.conditions[0]);
      var b = base(s);
      k = k + (k === "delta" && b !== meta.baselines[0] ? "@" + b : "") + ":" + c;
    }
    return k;
  }
  function value(row, key) {
    var td = row.querySelector('td[data-key="' + key.replace(/"/g, '\\"') + '"]');
    if (!td || td.dataset.v === "") return null;
    var n = Number(td.dataset.v);
    return isNaN(n) ? td.dataset.v : n;
  }
  function apply() {
    state = parse();
    ["task", "model", "condition"].forEach(function (k) {
      var sel = form.elements[k];
      sel.value = state[k] || "";
      if (sel.value !== (state[k] || "")) sel.value = "";
    });
    var b = base(state);
    form.elements.base.value = b;
    var shown = 0;
    rows.forEach(function (r) {
      var hide = (state.task && r.dataset.task !== state.task) || (state.model && r.dataset.model !== state.model);
      r.hidden = !!hide;
      if (!hide) shown++;
    });
    var cond = state.condition || "";
    table.querySelectorAll("[data-cond]").forEach(function (el) {
      var key = el.dataset.key || "", c = el.dataset.cond;
      var keep = !cond || c === cond || (c === meta.conditions[0] && key.indexOf("score:") === 0);
      if (key.indexOf("delta") === 0) keep = keep && (el.dataset.base || meta.baselines[0]) === b;
      el.hidden = !keep;
    });
    table.querySelectorAll("th.group").forEach(function (th) {
      var n = table.querySelectorAll('thead th[data-key^="' + th.dataset.group + ':"]:not([hidden])').length;
      th.colSpan = Math.max(n, 1); th.hidden = n === 0;
    });
    var key = sortKey(state), desc = state.dir === "desc";
    table.querySelectorAll("th[data-key]").forEach(function (th) {
      if (th.dataset.key === key) th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    var order = rows.slice();
    if (key) {
      order.sort(function (a, b) {
        var x = value(a, key), y = value(b, key);
        if (x === null || y === null) return (x === null) - (y === null) || a.dataset.i - b.dataset.i;
        var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return (desc ? -c : c) || a.dataset.i - b.dataset.i;
      });
    }
    order.forEach(function (r) { body.appendChild(r); });
    document.getElementById("count").textContent = shown + " of " + rows.length + " rows";
  }
  function go(s) {
    var parts = [];
    ["sort", "dir", "task", "model", "condition", "base"].forEach(function (k) {
      if (s[k]) parts.push(k + "=" + encodeURIComponent(s[k]));
    });
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
    apply();
  }
  table.querySelectorAll("th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var s = parse(), same = sortKey(s) === th.dataset.key;
      s.sort = th.dataset.key;
      var first = /^(score|delta):|^robust:.*:(mean|worst)$/.test(th.dataset.key) ? "desc" : "asc";  // best first
      s.dir = same ? (s.dir === "desc" ? "asc" : "desc") : first;
      go(s);
    });
  });
  form.addEventListener("change", function (e) {
    var s = parse(); s[e.target.name] = e.target.value; go(s);
  });
  document.getElementById("reset").addEventListener("click", function () { go({}); });
  window.addEventListener("hashchange", apply);
  apply();
})();
"""
