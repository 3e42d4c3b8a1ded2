"""Normalization: canonical values with the lab's words kept beside them, and
every bad cell named by its spreadsheet row and the lab's column name."""

import polars as pl
import pytest

from kqc.core.normalize import normalize
from kqc.core.records import RESULT_SCHEMA, RawTable


def raw(
    rows: list[list[str]], header: list[str], meta=None, decimal_comma=False, written=False
) -> RawTable:
    frame = pl.DataFrame(rows, schema={h: pl.String() for h in header}, orient="row")
    frame = frame.with_columns(pl.Series("source_row", range(2, 2 + len(rows)), dtype=pl.Int64))
    return RawTable(frame, meta, decimal_comma=decimal_comma, thousands_comma=written)


HEADER = ["Lab", "Lot #", "Sample ID", "Test", "Value", "UOM", "LOQ"]


def test_clean_long_rows_become_canonical():
    out = normalize(
        raw(
            [
                ["Acme", "B1", "S1", "Mitragynine", "1.42", "%", "0.01"],
                ["Acme", "B1", "S1", "Lead", "250", "ppb", "5"],
                ["Acme", "B1", "S1", "7-OH", "<LOQ", "%", "0.01"],
                ["Acme", "B1", "S1", "Salmonella", "Absent in 25 g", "", ""],
            ],
            HEADER,
        )
    )
    assert out.kind == "results"
    assert out.problems == []
    assert out.rows.schema == pl.Schema(RESULT_SCHEMA)
    rows = {r["analyte"]: r for r in out.rows.iter_rows(named=True)}
    assert rows["mitragynine"]["value"] == pytest.approx(14.2)
    assert rows["mitragynine"]["unit"] == "mg/g"
    assert rows["mitragynine"]["loq"] == pytest.approx(0.1)
    assert rows["mitragynine"]["reported_result"] == "1.42"
    assert rows["mitragynine"]["reported_unit"] == "%"
    assert rows["lead"]["value"] == pytest.approx(0.25)
    assert rows["lead"]["unit"] == "ug/g"
    assert rows["lead"]["loq"] == pytest.approx(0.005)
    oh = rows["7_hydroxymitragynine"]
    assert oh["value"] is None and oh["qualifier"] == "<LOQ" and oh["unit"] == "mg/g"
    sal = rows["salmonella"]
    assert sal["value"] is None and sal["qualifier"] == "not_detected"
    assert sal["test_portion_g"] == 25.0 and sal["unit"] is None
    assert set(out.rows["sample_type"]) == {"production"}


def test_every_bad_row_is_named_and_no_good_row_blamed():
    out = normalize(
        raw(
            [
                ["Acme", "B1", "S1", "Mitragynine", "1.42", "%", ""],
                ["Acme", "B1", "S1", "Mitragynin", "1.1", "%", ""],
                ["Acme", "B1", "S1", "Lead", "0.3", "", ""],
                ["Acme", "B1", "S1", "Nickel", "lots", "ppm", ""],
                ["Acme", "", "S1", "Cadmium", "0.1", "ppm", ""],
                ["Acme", "B1", "S1", "Mercury", "0.1", "ppm", "x"],
            ],
            HEADER,
        )
    )
    by_row = {p.row: p for p in out.problems}
    assert sorted(by_row) == [3, 4, 5, 6, 7]
    assert by_row[3].column == "Test" and "did you mean 'mitragynine'" in by_row[3].problem
    assert by_row[4].column == "UOM" and "never assumed" in by_row[4].problem
    assert by_row[5].column == "Value" and by_row[5].value == "lots"
    assert by_row[6].column == "Lot #"
    assert by_row[7].column == "LOQ"


def test_metadata_block_supplies_the_lab():
    out = normalize(
        raw(
            [["B1", "S1", "Lead", "0.1", "ppm"]],
            ["Batch", "Sample", "Analyte", "Result", "Unit"],
            meta={"Lab": "Acme Labs"},
        )
    )
    assert out.problems == []
    assert out.rows["lab_id"].to_list() == ["Acme Labs"]


def test_missing_required_column_lists_what_is_expected():
    out = normalize(raw([["B1", "S1", "Lead", "0.1"]], ["Batch", "Sample", "Analyte", "Result"]))
    columns = {p.column for p in out.problems}
    assert {"unit", "lab_id"} <= columns
    assert all(p.row == 1 for p in out.problems)


def test_decimal_comma_in_semicolon_files():
    out = normalize(
        raw([["Acme", "B1", "S1", "Lead", "0,25", "ppm", ""]], HEADER, decimal_comma=True)
    )
    assert out.rows["value"].to_list() == [pytest.approx(0.25)]


def test_not_tested_cells_are_left_out_but_blank_results_are_problems():
    out = normalize(
        raw(
            [
                ["Acme", "B1", "S1", "Lead", "NT", "ppm", ""],
                ["Acme", "B1", "S1", "Nickel", "", "ppm", ""],
            ],
            HEADER,
        )
    )
    assert [p.row for p in out.problems] == [3]
    assert "empty" in out.problems[0].problem


def test_presence_test_with_a_number_is_a_problem():
    out = normalize(raw([["Acme", "B1", "S1", "Salmonella", "0", "/25g", ""]], HEADER))
    assert "presence/absence" in out.problems[0].problem


def test_register_rows():
    out = normalize(
        raw(
            [["B1", "P1", "Caps", "Capsule", "7", "0.5", "6", ""]],
            [
                "Batch ID",
                "Product ID",
                "Product Name",
                "Form",
                "Label claim (mg/serving)",
                "Serving size (g)",
                "Servings per day",
                "Capsules per serving",
            ],
        )
    )
    assert out.kind == "register" and out.problems == []
    row = out.rows.row(0, named=True)
    assert row["form"] == "capsule"
    assert row["label_claim_mg_per_serving"] == 7.0
    assert row["units_per_serving"] == 1


def test_a_register_number_may_repeat_its_columns_unit_but_no_other():
    header = [h for h in REGISTER_HEADER if h != "Markets"]
    out = normalize(
        raw(
            [
                ["B1", "P1", "Red", "Powder", "50 mg", "2 g", "3"],
                ["B2", "P1", "Red", "Powder", "45 MG/Serving", "2.5 grams", "3"],
                ["B3", "P1", "Red", "Powder", "45 mcg", "2 oz", "3"],  # never converted
            ],
            header,
        )
    )
    assert [(p.row, p.column, p.problem) for p in out.problems] == [
        (4, "Label claim (mg/serving)", "'45 mcg' is not in mg: write the number of mg alone"),
        (4, "Serving size (g)", "'2 oz' is not in g: write the number of g alone"),
    ]
    read = out.rows.filter(pl.col("batch_id") != "B3")
    assert read.select("label_claim_mg_per_serving", "serving_size_g").rows() == [
        (50.0, 2.0),
        (45.0, 2.5),
    ]


REGISTER_HEADER = [
    "Batch ID",
    "Product ID",
    "Product Name",
    "Form",
    "Label claim (mg/serving)",
    "Serving size (g)",
    "Servings per day",
    "Markets",
]


def test_register_forms_and_markets_become_codes():
    out = normalize(
        raw(
            [
                ["B1", "P1", "Kratom", "Capsules", "7", "0.5", "6", "Utah, ga"],
                ["B2", "P1", "Kratom", "Tincture", "7", "0.5", "6", ""],
            ],
            REGISTER_HEADER,
        )
    )
    assert out.problems == []
    assert out.rows.select("form", "markets").rows() == [("capsule", "UT;GA"), ("liquid", None)]


def test_register_unknown_form_or_market_is_named_with_a_suggestion():
    """Form and markets choose the limits: a guess could skip one, so an
    unknown name stops the row."""
    out = normalize(
        raw(
            [
                ["B1", "P1", "Kratom", "capsle", "7", "0.5", "6", "UT"],
                ["B2", "P1", "Kratom", "powder", "7", "0.5", "6", "UT;Utha"],
                ["B3", "P1", "Kratom", "powder", "7", "0.5", "6", "RI"],
            ],
            REGISTER_HEADER,
        )
    )
    assert [(p.row, p.column) for p in out.problems] == [(2, "Form"), (3, "Markets")]
    assert "did you mean 'capsule'" in out.problems[0].problem
    assert "did you mean 'Utah'" in out.problems[1].problem
    assert out.rows["batch_id"].to_list() == ["B3"]


def test_e_coli_worded_absence_needs_no_unit():
    out = normalize(raw([["Acme", "B1", "S1", "E. coli", "Absent in 10 g", "", ""]], HEADER))
    assert out.problems == []
    row = out.rows.row(0, named=True)
    assert (row["qualifier"], row["test_portion_g"], row["value"]) == ("not_detected", 10.0, None)


@pytest.mark.parametrize(
    "header", ["Lead (ppm)", "Lead, ppm", "Lead ppm", "Lead_ppm", "Pb ppm", "Lead [µg/g]"]
)
def test_wide_headers_carry_their_unit_however_written(header):
    out = normalize(raw([["Acme", "KR-1", "S1", "0.4"]], ["Lab", "Batch", "Sample", header]))
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit").rows() == [("lead", 0.4, "ug/g")]


def test_a_percent_after_an_alkaloid_is_its_unit():
    out = normalize(
        raw([["Acme", "KR-1", "S1", "1.4"]], ["Lab", "Batch", "Sample", "Mitragynine %"])
    )
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit").rows() == [("mitragynine", 14.0, "mg/g")]


def test_a_units_row_under_a_wide_header_gives_the_units():
    header = ["Lab", "Batch", "Sample", "Lead", "Mitragynine", "Salmonella"]
    rows = [
        ["", "", "", "ppm", "%", ""],
        ["Acme", "KR-1", "S1", "0.4", "1.4", "Absent"],
        ["Acme", "KR-1", "S2", "ND", "1.5", "Absent"],
    ]
    out = normalize(raw(rows, header))
    assert out.problems == []
    got = out.rows.select("source_row", "analyte", "unit", "reported_unit").rows()
    assert got == [
        (3, "lead", "ug/g", "ppm"),
        (3, "mitragynine", "mg/g", "%"),
        (3, "salmonella", None, None),
        (4, "lead", "ug/g", "ppm"),
        (4, "mitragynine", "mg/g", "%"),
        (4, "salmonella", None, None),
    ]


def test_a_first_sample_row_is_never_read_as_units():
    header = ["Lab", "Batch", "Sample", "Lead", "Cadmium"]
    # A sample's row with its id, and a row of numbers: neither gives units.
    for first in (["Acme", "KR-1", "S1", "ppm", "ppm"], ["", "", "", "0.4", "ppm"]):
        out = normalize(raw([first, ["Acme", "KR-1", "S2", "0.3", "0.1"]], header))
        assert {p.column for p in out.problems} >= {"Lead", "Cadmium"}
        assert any("has no unit" in p.problem for p in out.problems)


def test_a_misspelt_analyte_column_of_results_is_named_never_left_out():
    header = ["Lab", "Batch", "Sample", "Lead (ppm)", "Leed", "Sample weight (g)", "Ash", "Notes"]
    rows = [
        ["Acme", "KR-1", "S1", "0.2", "0.3", "1.01", "2.1", "re-run"],
        ["Acme", "KR-1", "S2", "0.2", "ND", "1.02", "2.0", ""],
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.column) for p in out.problems] == [(1, "Leed")]
    assert "did you mean 'lead'" in out.problems[0].problem


def test_a_unit_written_in_the_result_must_be_the_unit_column_s():
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
    rows = [
        ["Acme", "KR-1", "S1", "Lead", "<0.1 ppb", "ppm"],  # 1,000 times apart
        ["Acme", "KR-1", "S1", "Cadmium", "<0.1 ug/g", "ppm"],  # one unit, two spellings
        ["Acme", "KR-1", "S1", "Mitragynine", "1.5 ± 0.1 %", "mg/g"],
        ["Acme", "KR-1", "S1", "E. coli", "< 10 CFU/g", "CFU/g"],
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.column, p.value) for p in out.problems] == [
        (2, "Result", "<0.1 ppb"),
        (4, "Result", "1.5 ± 0.1 %"),
    ]
    assert "written in ppb but the unit column says ppm" in out.problems[0].problem
    assert out.rows.select("analyte", "bound").rows() == [("cadmium", 0.1), ("e_coli", 10.0)]


def test_a_qualifier_column_makes_its_number_a_non_detect():
    out = normalize(
        raw(
            [
                ["B1", "S1", "Lead", "0.05", "U", "ppm", "Lab"],
                ["B1", "S1", "Arsenic", "0.2", "", "ppm", "Lab"],
            ],
            ["Batch", "Sample", "Analyte", "Result", "Qualifier", "Unit", "Lab"],
        )
    )
    assert out.problems == []
    lead, arsenic = out.rows.sort("analyte", descending=True).iter_rows(named=True)
    assert (lead["value"], lead["qualifier"], lead["bound"]) == (None, "<LOQ", 0.05)
    assert lead["reported_result"] == "0.05 U"
    assert (arsenic["value"], arsenic["qualifier"], arsenic["reported_result"]) == (
        0.2,
        None,
        "0.2",
    )


def test_a_qualifier_column_in_a_wide_file_is_refused():
    out = normalize(
        raw(
            [["B1", "S1", "Lab", "0.05", "U"]],
            ["Batch", "Sample", "Lab", "Lead (ppm)", "Qualifier"],
        )
    )
    assert out.rows.height == 0
    assert [p.column for p in out.problems] == ["Qualifier"]
    assert "cannot say which analyte" in out.problems[0].problem


@pytest.mark.parametrize(
    ("extra", "position"),
    [("Test", 3), ("Parameter", 3), ("Client Sample ID", 1), ("Result", 4)],
)
def test_a_lims_column_beside_a_more_exact_one_is_set_aside(extra, position):
    header = ["Batch", "Lab Sample ID", "Analyte", "Final Result", "Unit", "Lab"]
    row = ["B1", "EC-001", "Lead", "0.2", "ppm", "Lab"]
    header.insert(position, extra)
    row.insert(position, {1: "Maeng Da 250 g", 3: "Heavy Metals", 4: "0.02"}[position])
    out = normalize(raw([row], header))
    assert out.problems == []
    assert out.rows.select("sample_id", "analyte").row(0) == ("EC-001", "lead")


def test_two_columns_of_equal_standing_are_a_clash_named():
    out = normalize(
        raw(
            [["B1", "S1", "EC-001", "Lead", "0.2", "ppm", "Lab"]],
            ["Batch", "Sample ID", "Lab Sample ID", "Analyte", "Result", "Unit", "Lab"],
        )
    )
    assert out.rows.height == 0
    assert [(p.column, p.problem) for p in out.problems] == [
        (
            "Lab Sample ID",
            "columns 'Sample ID' and 'Lab Sample ID' both mean sample_id: keep one of them",
        )
    ]


def test_a_register_s_description_beside_its_product_name_is_set_aside():
    header = [*REGISTER_HEADER, "Description"]
    row = ["B1", "P1", "Red Bali Caps", "Capsule", "7", "0.5", "6", "", "60 ct, 500 mg each"]
    out = normalize(raw([row], header))
    assert out.kind == "register" and out.problems == []
    assert out.rows["product_name"].to_list() == ["Red Bali Caps"]


def test_limits_in_their_own_unit_are_converted_by_it():
    # Read in the result's ppb, an LOQ of 0.05 ppm would be 1,000 times too
    # low, and a non-detect would seem to prove more than it does.
    out = normalize(
        raw(
            [
                ["B1", "S1", "Lead", "250", "ppb", "0.01", "0.05", "ppm", "Lab"],
                ["B1", "S1", "Cadmium", "12", "ppb", "1", "5", "", "Lab"],
            ],
            ["Batch", "Sample", "Analyte", "Result", "Units", "LOD", "LOQ", "LOQ Units", "Lab"],
        )
    )
    assert out.problems == []
    rows = {r["analyte"]: (r["value"], r["lod"], r["loq"]) for r in out.rows.iter_rows(named=True)}
    assert rows == {"lead": (0.25, 0.01, 0.05), "cadmium": (0.012, 0.001, 0.005)}


def test_a_limit_unit_of_another_kind_is_refused():
    out = normalize(
        raw(
            [["B1", "S1", "Mitragynine", "1.5", "%", "0.05", "mg/capsule", "Lab"]],
            ["Batch", "Sample", "Analyte", "Result", "Units", "LOQ", "LOQ Units", "Lab"],
        )
    )
    assert out.rows.height == 0
    assert [(p.column, p.value) for p in out.problems] == [("LOQ Units", "mg/capsule")]


def test_a_unit_in_the_result_header_is_every_row_s_unit():
    out = normalize(
        raw(
            [
                ["B1", "S1", "Lead", "0.25", "0.05", "Lab"],
                ["B1", "S1", "Arsenic", "<0.05", "0.05", "Lab"],
            ],
            ["Batch", "Sample", "Analyte", "Result (mg/kg)", "LOQ (ug/kg)", "Lab"],
        )
    )
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit", "bound", "loq", "reported_unit").rows() == [
        ("lead", 0.25, "ug/g", None, 0.00005, "mg/kg"),
        ("arsenic", None, "ug/g", 0.05, 0.00005, "mg/kg"),
    ]


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (["Result (mg/kg)", "Units"], "the unit is given twice"),
        (["Result (ppm)", "Result"], "both mean result"),
        (["Result (ppm)", "LOD (ppb)", "LOQ (ppm)"], "give their numbers in different units"),
    ],
)
def test_a_unit_given_twice_in_headers_is_refused(header, says):
    values = ["0.25", "ppm", "0.05"][: len(header)]
    out = normalize(
        raw([["B1", "S1", "Lead", "Lab", *values]], ["Batch", "Sample", "Analyte", "Lab", *header])
    )
    assert out.rows.height == 0
    assert len(out.problems) == 1 and says in out.problems[0].problem


def test_a_unit_written_after_the_number_is_read_when_the_unit_column_agrees_or_is_empty():
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
    rows = [
        ["Acme", "KR-1", "S1", "Mitragynine", "1.52 %", "%"],
        ["Acme", "KR-1", "S1", "Paynantheine", "0.3%", ""],  # the cell gives the unit
        ["Acme", "KR-1", "S1", "E. coli", "< 10 CFU/g", ""],
        ["Acme", "KR-1", "S1", "Lead", "0.5 ppb", "ppm"],  # 1,000 times apart: refused
        ["Acme", "KR-1", "S1", "Cadmium", "0.5", ""],  # no unit anywhere: refused
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.column) for p in out.problems] == [(5, "Result"), (6, "Unit")]
    assert out.rows.select("analyte", "value", "unit", "bound", "reported_unit").rows() == [
        ("mitragynine", 15.2, "mg/g", None, "%"),
        ("paynantheine", 3.0, "mg/g", None, "%"),
        ("e_coli", None, "CFU/g", 10.0, "CFU/g"),
    ]


def test_a_count_with_three_digits_after_a_dot_is_refused_as_ambiguous():
    # As Excel writes 150000 in a European locale: read as 150, a yeast and
    # mould count over the 10^5 limit would pass.
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
    rows = [
        ["Acme", "KR-1", "S1", "TYMC", "150.000", "CFU/g"],
        ["Acme", "KR-1", "S1", "TAMC", "<1.000", "CFU/g"],
        ["Acme", "KR-1", "S1", "Coliforms", "2.5", "CFU/g"],  # not a thousands group
        ["Acme", "KR-1", "S1", "Nickel", "1.250", "ppm"],  # a concentration: decimals
    ]
    out = normalize(raw(rows, header, decimal_comma=True))
    assert [(p.row, p.value) for p in out.problems] == [(2, "150.000"), (3, "<1.000")]
    assert out.rows.select("analyte", "value").rows() == [("coliforms", 2.5), ("nickel", 1.25)]


def test_a_comma_grouped_count_where_the_comma_is_the_decimal_mark_is_refused():
    # A US lab's 150,000 in a semicolon-separated file (decimal comma): read
    # as 150, a yeast and mould count over the 10^5 limit would pass.
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
    rows = [
        ["Acme", "KR-1", "S1", "TYMC", "150,000", "CFU/g"],
        ["Acme", "KR-1", "S1", "TAMC", "< 1,000", "CFU/g"],
        ["Acme", "KR-1", "S1", "Coliforms", "2,5", "CFU/g"],  # not a thousands group
        ["Acme", "KR-1", "S1", "Nickel", "1,250", "ppm"],  # a concentration: decimals
        ["Acme", "KR-1", "S1", "Staph aureus", "1,0E3", "CFU/g"],
    ]
    out = normalize(raw(rows, header, decimal_comma=True))
    assert [(p.row, p.value) for p in out.problems] == [(2, "150,000"), (3, "< 1,000")]
    assert out.rows.select("analyte", "value").rows() == [
        ("coliforms", 2.5),
        ("nickel", 1.25),
        ("staph_aureus", 1000.0),
    ]


GROUPED_HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit", "LOQ"]


def test_commas_grouping_thousands_are_read_where_the_files_numbers_show_the_dot():
    # A US lab's CSV, whose numbers show the dot is the decimal mark
    # (kqc.readers.delimited): the comma in '12,000' groups thousands.
    rows = [
        ["Acme", "KR-1", "S1", "7-OH", "0.017", "%", "0.01"],
        ["Acme", "KR-1", "S1", "TYMC", "12,000", "CFU/g", "10"],
        ["Acme", "KR-1", "S1", "TAMC", "< 1,000 CFU/g", "", "1,000"],
        ["Acme", "KR-1", "S1", "Coliforms", "1,500,000", "CFU/g", ""],
    ]
    out = normalize(raw(rows, GROUPED_HEADER, written=True))
    assert out.problems == []
    assert out.rows.select("analyte", "value", "bound", "loq", "reported_result").rows() == [
        ("7_hydroxymitragynine", 0.17, None, 0.1, "0.017"),
        ("tymc", 12000.0, None, 10.0, "12,000"),
        ("tamc", None, 1000.0, 1000.0, "< 1,000 CFU/g"),
        ("coliforms", 1500000.0, None, None, "1,500,000"),
    ]


def test_one_group_of_three_stays_ambiguous_where_the_file_does_not_show_its_mark():
    rows = [
        ["Acme", "KR-1", "S1", "Nickel", "1,250", "ppb", "1,000"],
        ["Acme", "KR-1", "S1", "Coliforms", "1,500,000", "CFU/g", ""],  # never a decimal
        ["Acme", "KR-1", "S1", "Lead", "1,250.5", "ppb", ""],  # nor is this
    ]
    out = normalize(raw(rows, GROUPED_HEADER))
    assert {(p.row, p.value) for p in out.problems} == {(2, "1,250"), (2, "1,000")}
    assert "ambiguous number '1,250'" in str(out.problems)
    assert out.rows.select("analyte", "value").rows() == [
        ("coliforms", 1500000.0),
        ("lead", 1.2505),
    ]


def test_a_count_grouped_with_commas_is_thousands_wherever_the_comma_is_no_decimal_mark():
    # A plate count is a whole number: nobody writes twelve colonies as
    # '12,000'. A count beside a qualifier code keeps the file's reading.
    header = [*GROUPED_HEADER, "Qualifier"]
    rows = [
        ["Acme", "KR-1", "S1", "TYMC", "12,000", "CFU/g", "1,000", ""],
        ["Acme", "KR-1", "S1", "TAMC", "< 1,000 CFU/g", "", "", ""],
        ["Acme", "KR-1", "S1", "Coliforms", "1,000", "CFU/g", "", "U"],
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.value) for p in out.problems] == [(4, "1,000")]
    assert out.rows.select("analyte", "value", "bound", "loq").rows() == [
        ("tymc", 12000.0, None, 1000.0),
        ("tamc", None, 1000.0, None),
    ]
    semicolon = normalize(raw(rows[:1], header, decimal_comma=True))
    assert [(p.row, p.value) for p in semicolon.problems] == [(2, "12,000")]


def test_a_grouped_number_beside_its_qualifier_code_keeps_the_labs_digits():
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Qualifier", "Unit"]
    rows = [
        ["Acme", "KR-1", "S1", "Mitragynine", "9.21", "", "mg/g"],
        ["Acme", "KR-1", "S1", "TYMC", "1,000", "U", "CFU/g"],
        ["Acme", "KR-1", "S1", "TAMC", "12,000", "", "CFU/g"],
    ]
    out = normalize(raw(rows, header, written=True))
    assert out.problems == []
    assert out.rows.select("analyte", "value", "qualifier", "bound", "reported_result").rows() == [
        ("mitragynine", 9.21, None, None, "9.21"),
        ("tymc", None, "<LOQ", 1000.0, "1,000 U"),
        ("tamc", 12000.0, None, None, "12,000"),
    ]


def test_a_header_repeated_among_the_rows_is_left_out():
    # A LIMS export broken into pages repeats its header; such a row holds no
    # result. A row naming only one column is a result with a mistake.
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit", "LOQ"]
    rows = [
        ["Acme", "KR-1", "S1", "Mitragynine", "1.52", "%", "0.01"],
        [" Lab", "Batch", "Sample", "Analyte", "Result ", "Unit", ""],
        ["Acme", "KR-1", "S1", "Lead", "0.2", "ppm", "0.05"],
        ["Acme", "KR-1", "S1", "Analyte", "0.3", "ppm", "0.05"],
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.value) for p in out.problems] == [(5, "Analyte")]
    wide_rows = [["Acme", "KR-1", "S1", "0.2"], ["Lab", "Batch", "Sample", "Lead (ppm)"]]
    wide_out = normalize(raw(wide_rows, ["Lab", "Batch", "Sample", "Lead (ppm)"]))
    assert wide_out.problems == []
    assert wide_out.rows.select("source_row", "analyte", "value").rows() == [(2, "lead", 0.2)]


def test_section_headings_are_left_out_and_a_lone_misspelled_analyte_is_named():
    header = ["Sample", "Analyte", "Result", "Unit", "Lab", "Batch"]
    rows = [
        ["", "Alkaloids", "", "", "", ""],
        ["S1", "Mitragynine", "1.52", "%", "Acme", "KR-1"],
        ["Heavy Metals (ICP-MS)", "", "", "", "", ""],
        ["S1", "Lead", "0.2", "ppm", "Acme", "KR-1"],
        ["", "Leed", "", "", "", ""],  # a result forgotten, not a heading
        ["", "Cadmium", "", "", "", ""],  # likewise
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.value) for p in out.problems if p.column == "Analyte"] == [(6, "Leed")]
    assert {p.row for p in out.problems} == {6, 7}
    assert out.rows.select("source_row", "analyte").rows() == [(3, "mitragynine"), (5, "lead")]


def test_a_dotted_count_in_a_wide_file_is_named_by_its_column():
    out = normalize(
        raw(
            [["Acme", "KR-1", "S1", "1.200", "0.2"]],
            ["Lab", "Batch", "Sample", "TAMC (CFU/g)", "Lead (ppm)"],
        )
    )
    assert [(p.row, p.column, p.value) for p in out.problems] == [(2, "TAMC (CFU/g)", "1.200")]


REGISTER_PER_CAPSULE = [
    "Batch ID",
    "Product ID",
    "Product Name",
    "Form",
    "Label claim (mg/capsule)",
    "Capsules per serving",
    "Serving size (g)",
    "Servings per day",
]


def test_a_claim_per_capsule_times_capsules_per_serving_is_the_claim_per_serving():
    out = normalize(
        raw([["B1", "P1", "Caps", "Capsule", "9", "2", "1.0", "3"]], REGISTER_PER_CAPSULE)
    )
    assert out.kind == "register" and out.problems == []
    row = out.rows.row(0, named=True)
    assert (row["label_claim_mg_per_serving"], row["units_per_serving"]) == (18.0, 2)


def test_a_claim_per_capsule_without_capsules_per_serving_is_refused():
    header = [h for h in REGISTER_PER_CAPSULE if h != "Capsules per serving"]
    out = normalize(raw([["B1", "P1", "Caps", "Capsule", "9", "1.0", "3"]], header))
    assert out.rows.height == 0
    assert [p.column for p in out.problems] == ["Label claim (mg/capsule)"]
    assert "needs a units_per_serving column" in out.problems[0].problem


def test_moisture_and_water_activity_are_read_in_their_own_units():
    # Kratom certificates report them beside the microbes; refused as unknown
    # analytes, the whole certificate was.
    header = ["Lab", "Batch", "Sample", "Test", "Result", "Units"]
    rows = [
        ["Acme", "KR-1", "S1", "Moisture Content", "6.2", "%"],
        ["Acme", "KR-1", "S1", "Loss on drying", "62", "mg/g"],
        ["Acme", "KR-1", "S1", "Water Activity", "0.45", "aw"],
        ["Acme", "KR-1", "S2", "Water activity (aw)", "0.52", ""],  # a ratio: no unit to give
        ["Acme", "KR-1", "S2", "Water Activity", "45", "%"],  # refused: not a ratio
        ["Acme", "KR-1", "S2", "Moisture", "0.5", "aw"],  # refused: not a mass fraction
        ["Acme", "KR-1", "S2", "Moisture", "5.9", ""],  # refused: a unit is never assumed
    ]
    out = normalize(raw(rows, header))
    assert [(p.row, p.column) for p in out.problems] == [(6, "Units"), (7, "Units"), (8, "Units")]
    assert "water activity" in out.problems[0].problem
    assert out.rows.select("analyte", "value", "unit", "reported_unit").rows() == [
        ("moisture", 6.2, "%", "%"),
        ("moisture", 6.2, "%", "mg/g"),
        ("water_activity", 0.45, "aw", "aw"),
        ("water_activity", 0.52, "aw", None),
    ]


def test_a_wide_water_activity_column_needs_no_unit():
    out = normalize(
        raw(
            [["Acme", "KR-1", "S1", "6.5", "0.41", "0.2"]],
            ["Lab", "Batch", "Sample", "Moisture (%)", "Water Activity", "Lead (ppm)"],
        )
    )
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit").rows() == [
        ("moisture", 6.5, "%"),
        ("water_activity", 0.41, "aw"),
        ("lead", 0.2, "ug/g"),
    ]


def test_an_unknown_analyte_is_named_with_the_fix():
    header = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
    out = normalize(raw([["Acme", "KR-1", "S1", "Unobtainium", "1", "ppm"]], header))
    [problem] = out.problems
    assert (problem.row, problem.column, problem.value) == (2, "Analyte", "Unobtainium")
    assert problem.problem.startswith("unknown analyte 'Unobtainium': write it as one of")
