"""The house vocabulary file: what it adds, and each way it is refused with
one sentence naming the row, the column and the fix."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from kqc.core import vocab
from kqc.core.house_vocab import HouseVocabularyError, parse_house_vocabulary
from kqc.core.normalize import normalize
from kqc.core.records import RawTable
from kqc.core.units import conversion

HEADER = "code,group,canonical_unit,aliases\n"


@pytest.fixture(autouse=True)
def built_in_afterwards() -> Iterator[None]:
    yield
    vocab.use_house_analytes(())


def parsed(body: str, header: str = HEADER) -> tuple[vocab.Analyte, ...]:
    return parse_house_vocabulary((header + body).encode(), "house.csv")


def refused(body: str, header: str = HEADER) -> str:
    with pytest.raises(HouseVocabularyError) as caught:
        parsed(body, header)
    return caught.value.message


def test_a_house_analyte_with_its_group_unit_and_aliases():
    (zinc, kavain, listeria_spp) = parsed(
        "zinc,heavy metals,ug/g,Zn;Zinc (Zn);66Zn;Zn 66\n"
        "kavain,alkaloids,mg/g,Kavain;Kawain\n"
        'e_sakazakii,microbial,presence,"Cronobacter sakazakii; E. sakazakii"\n'
    )
    assert (zinc.code, zinc.group, zinc.reporting) == ("zinc", "metal", "amount")
    assert zinc.aliases == ("Zn", "Zinc (Zn)", "66Zn", "Zn 66")
    assert (kavain.group, kavain.reporting) == ("alkaloid", "amount")
    assert (listeria_spp.group, listeria_spp.reporting) == ("microbial", "presence")
    assert listeria_spp.aliases == ("Cronobacter sakazakii", "E. sakazakii")


def test_units_and_groups_fold_as_labs_write_them():
    (manganese, yeast) = parsed(
        "manganese,Metal,µg/g,Mn;55Mn\nosmophilic_yeast,Microbiology,cfu/g,Osmophilic yeasts\n"
    )
    assert manganese.group == "metal"
    assert (yeast.group, yeast.reporting) == ("microbial", "count")


def test_once_in_force_a_house_analyte_is_read_converted_and_still_never_guessed():
    vocab.use_house_analytes(parsed("zinc,heavy metals,ug/g,Zn;66Zn\n"))
    assert vocab.analyte_code("Zinc") == "zinc"
    assert vocab.analyte_code("66Zn") == "zinc"
    assert vocab.analyte_code("Zn (ICP-MS)") == "zinc"
    assert vocab.analyte_code("68Zn") is None  # not listed: never guessed
    conv = conversion(vocab.ANALYTES["zinc"], "ppb")
    assert not isinstance(conv, str) and conv.unit == "ug/g"
    assert "zinc" in vocab.ANALYTE_CODES
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit", "LOQ"]
    frame = pl.DataFrame(
        [["Acme", "KR-1", "S1", "Zinc", "24.6", "ppm", "0.1"]],
        schema=header,
        orient="row",
    ).with_columns(pl.Series("source_row", [2], dtype=pl.Int64))
    out = normalize(RawTable(frame, {}))
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit").rows() == [("zinc", 24.6, "ug/g")]
    vocab.use_house_analytes(())
    assert vocab.analyte_code("Zinc") is None
    assert "zinc" not in vocab.ANALYTES and "zinc" not in vocab.ANALYTE_CODES


def test_blank_rows_and_a_note_column_are_fine():
    (zinc,) = parsed("\nzinc,heavy metals,ug/g,Zn,why we test it\n\n", HEADER[:-1] + ",note\n")
    assert zinc.code == "zinc"


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (
            "zinc,heavy metals,ug/g\n",
            "code,group,canonical_unit\n",
            "house.csv lacks the column(s) aliases: its header must read"
            " code,group,canonical_unit,aliases (and perhaps note)",
        ),
        (
            "zinc,heavy metals,ug/g,Zn,x\n",
            "code,group,canonical_unit,aliases,comment\n",
            "house.csv: row 1 names the column 'comment', which a vocabulary does not have",
        ),
        (
            "lead,heavy metals,ug/g,Pb\n",
            HEADER,
            "house.csv: row 2, column code: 'lead' is a built-in analyte: take the row out",
        ),
        (
            "pb,heavy metals,ug/g,\n",
            HEADER,
            "house.csv: row 2, column code: 'pb' already means lead: give the new analyte"
            " another code",
        ),
        (
            "Zinc Total,heavy metals,ug/g,Zn\n",
            HEADER,
            "house.csv: row 2, column code: 'Zinc Total' is not a code: write it in lower case,"
            " with letters, digits and underscores, starting with a letter (e.g. 'zinc_total')",
        ),
        (
            "zinc,trace elements,ug/g,Zn\n",
            HEADER,
            "house.csv: row 2, column group 'trace elements' is not a group: write one of"
            " alkaloid, metal, microbial",
        ),
        (
            "zinc,heavy metals,ppm,Zn\n",
            HEADER,
            "house.csv: row 2, column canonical_unit 'ppm' is not the canonical unit of group"
            " metal: write ug/g",
        ),
        (
            "zinc,heavy metals,,Zn\n",
            HEADER,
            "house.csv: row 2, column canonical_unit is empty: write ug/g",
        ),
        (
            "salmonella_typhi,microbial,ug/g,S. Typhi\n",
            HEADER,
            "house.csv: row 2, column canonical_unit 'ug/g' is not the canonical unit of group"
            " microbial: write CFU/g or presence",
        ),
        (
            "zinc,heavy metals,ug/g,Zn;Pb\n",
            HEADER,
            "house.csv: row 2, column aliases: 'Pb' already means lead: remove it from the"
            " aliases of zinc",
        ),
        (
            "zinc,heavy metals,ug/g,Zn;208Pb\n",  # an isotope of lead, though no listed alias
            HEADER,
            "house.csv: row 2, column aliases: '208Pb' already means lead",
        ),
        (
            "zinc,heavy metals,ug/g,Zn\nzinc_total,heavy metals,ug/g,Zn\n",
            HEADER,
            "house.csv: row 3, column aliases: 'Zn' already means zinc",
        ),
        (
            "zinc,heavy metals,ug/g,Zn\nzinc,heavy metals,ug/g,Zinc\n",
            HEADER,
            "house.csv: row 3, column code: 'zinc' is given in row 2 already",
        ),
        (
            "blank,heavy metals,ug/g,\n",
            HEADER,
            "house.csv: row 2, column code: 'blank' names a QC sample type",
        ),
        (
            "zinc,heavy metals,ug/g,Zn,Zinc\n",
            HEADER,
            "house.csv: row 2 has 5 cells but the header has 4: put the aliases in one cell",
        ),
        ("", "", "house.csv is empty: give it the header code,group,canonical_unit,aliases"),
        (
            "zinc;heavy metals;ug/g;Zn\n",
            "code;group;canonical_unit;aliases\n",
            "house.csv: row 1 is separated by ';': save the file with commas between the columns",
        ),
    ],
)
def test_a_bad_vocabulary_is_one_sentence_naming_the_row_and_the_fix(body, header, expected):
    message = refused(body, header)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_refused_file_adds_nothing():
    with pytest.raises(HouseVocabularyError):
        parsed("zinc,heavy metals,ug/g,Zn\nbad code,heavy metals,ug/g,\n")
    assert vocab.analyte_code("Zinc") is None


def test_excel_s_windows_1252_micro_sign_is_read():
    (manganese,) = parse_house_vocabulary(
        b"code,group,canonical_unit,aliases\r\nmanganese,heavy metals,\xb5g/g,Mn\r\n", "h.csv"
    )
    assert manganese.reporting == "amount"
