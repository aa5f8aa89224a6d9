"""axe-core run inside a Playwright page: the accessibility rules the web UI must pass.

axe.min.js comes from tools/web (pinned by its package-lock.json; `npm ci --prefix tools/web`,
which scripts/setup.sh and scripts/test.sh run). A violation fails when it breaks a WCAG 2.x A/AA
rule, whatever its impact, or when axe rates it serious or critical (best practices included).
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parents[2] / "tools" / "web" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = {"serious", "critical"}
WCAG_TAGS = {"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"}

RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, tags: v.tags, help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """The failing violations axe finds in the page as it is now (dialogs, menus and panels open included)."""
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run `npm ci --prefix tools/web` (scripts/setup.sh does)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    return [v for v in page.evaluate(RUN) if v["impact"] in FAILING_IMPACTS or WCAG_TAGS & set(v["tags"])]


def assert_accessible(page, where: str) -> None:
    violations = axe_violations(page)
    report = "\n".join(f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
                       for v in violations)
    assert not violations, f"axe-core finds accessibility violations in {where}:\n{report}"
