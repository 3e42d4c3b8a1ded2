"""What a batch register says about a product: its form and the markets it is
sold in. Both choose thresholds (microbial limits differ for a powder and a
liquid; a market adds its profile), so an unknown name is a problem for the
row, never passed through: a misspelt form would silently skip its limits.
"""

from __future__ import annotations

from kqc.core.names import did_you_mean, name_key

# Product forms (Utah R70-580-2(6) lists raw leaf, powder, capsule, tablet,
# tea, liquid/tincture/shot, extract/concentrate, gummy), with the words
# registers use for them. The form picks the USP <2023> Table 2 row of the
# microbial limits (schemas/thresholds.csv says why in each row's note):
# powder and leaf are the dried botanical itself ("dried or powdered
# botanicals"); a capsule or tablet is a finished supplement made from it
# ("nutritional supplements with botanicals"); tea is brewed ("botanicals to
# be treated with boiling water before use"); extract, liquid, shot and gummy
# take the extract and tincture rows.
_FORM_NAMES: dict[str, tuple[str, ...]] = {
    "powder": ("powder", "powdered leaf", "leaf powder", "ground leaf", "pwd"),
    "leaf": ("leaf", "raw leaf", "crushed leaf", "dried leaf", "whole leaf"),
    "capsule": ("capsule", "capsules", "caps", "cap", "softgel"),
    "tablet": ("tablet", "tablets", "tab", "tabs", "pressed tablet"),
    "tea": ("tea", "tea bag", "tea bags", "teabag", "tea cut", "loose leaf tea"),
    "extract": ("extract", "concentrate", "resin", "full spectrum extract", "enhanced leaf"),
    "liquid": ("liquid", "tincture", "drink", "beverage", "syrup"),
    "shot": ("shot", "shots", "extract shot", "liquid shot"),
    "gummy": ("gummy", "gummies", "chew", "chews", "edible"),
}
FORMS: tuple[str, ...] = tuple(_FORM_NAMES)
_FORM_BY_KEY = {name_key(n): form for form, names in _FORM_NAMES.items() for n in names}
_FORM_SPELLINGS = [n for names in _FORM_NAMES.values() for n in names]

# US markets by postal code. A market without a kqc profile is still a real
# market: only the default profile applies to it.
_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware",
    "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii",
    "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
    "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico",
}  # fmt: skip
MARKETS: tuple[str, ...] = tuple(_STATES)
_MARKET_BY_KEY = {
    **{name_key(name): code for code, name in _STATES.items()},
    **{name_key(code): code for code in _STATES},
}
_MARKET_SPELLINGS = [*_STATES, *_STATES.values()]


def form_code(name: str) -> str | None:
    return _FORM_BY_KEY.get(name_key(name))


def unknown_form_message(name: str) -> str:
    return (
        f"unknown product form '{name}'{did_you_mean(name, _FORM_SPELLINGS)}"
        f" (use one of: {', '.join(FORMS)})"
    )


def market_codes(text: str) -> tuple[str | None, str | None]:
    """('UT;GA', None) for 'Utah, GA'; (None, problem) when a market is unknown.
    Markets are separated by ';', ',' or '/'; order is kept, repeats dropped."""
    codes: list[str] = []
    for part in text.replace(",", ";").replace("/", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        code = _MARKET_BY_KEY.get(name_key(part))
        if code is None:
            return None, (
                f"unknown market '{part}'{did_you_mean(part, _MARKET_SPELLINGS)}"
                " (use US postal codes separated by ';', e.g. UT;GA)"
            )
        codes.append(code)
    return (";".join(dict.fromkeys(codes)) or None), None
