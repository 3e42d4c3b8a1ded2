"""missing_panel: a batch without alkaloid potency, a full heavy-metal panel
or a pathogen test cannot be released (Utah R70-580-5(1): a COA states
mitragynine and 7-OH, metals and microbes for each batch)."""

from __future__ import annotations

from kqc.core.rules.model import Batch, Finding
from kqc.core.vocab import ARSENIC, CADMIUM, LEAD, MERCURY, MITRAGYNINE, SEVEN_OH

SOURCE = (
    "Utah Admin. Code R70-580-5(1),(3): certificate of analysis per batch with alkaloids,"
    " heavy metals (Table 2) and microbes (Table 1); AKA GMP: test every production lot"
)
PANELS: dict[str, tuple[str, ...]] = {
    "alkaloid potency": (MITRAGYNINE, SEVEN_OH),
    "heavy metals": (LEAD, ARSENIC, CADMIUM, MERCURY),
    "pathogens": ("salmonella", "e_coli"),
}
# Every analyte of every panel, in the panels' order.
PANEL_ANALYTES: tuple[str, ...] = tuple(a for analytes in PANELS.values() for a in analytes)


def missing_panel(batch: Batch) -> list[Finding]:
    tested = {r["analyte"] for r in batch.results if r["sample_type"] == "production"}
    out = []
    for panel, analytes in PANELS.items():
        missing = [a for a in analytes if a not in tested]
        if missing:
            out.append(
                Finding(
                    batch.batch_id,
                    "missing_panel",
                    None,
                    "minor",
                    None,
                    None,
                    None,
                    None,
                    "default",
                    SOURCE,
                    f"no {panel} result for this batch: missing {', '.join(missing)}",
                    {"panel": panel, "missing": missing},
                    key=panel,
                )
            )
    return out
