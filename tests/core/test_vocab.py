import pytest

from kqc.core.columns import guess_kind, result_field
from kqc.core.names import name_key
from kqc.core.vocab import analyte_code, sample_type_code, unknown_analyte_message


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Mitragynine", "mitragynine"),
        ("MITRAGYNINE", "mitragynine"),
        ("7-OH", "7_hydroxymitragynine"),
        ("7-Hydroxymitragynine", "7_hydroxymitragynine"),
        ("7-hydroxy mitragynine", "7_hydroxymitragynine"),
        ("Lead (Pb)", "lead"),
        ("Pb", "lead"),
        ("Salmonella spp.", "salmonella"),
        ("E. coli", "e_coli"),
        ("Total Aerobic Microbial Count", "tamc"),
        ("Total Yeast & Mold", "tymc"),
        ("Methylene chloride", "dichloromethane"),
        ("O-DSMT", "o_desmethyltramadol"),
        ("Mitragynine (HPLC)", "mitragynine"),
        # Spellings seen on certificates of analysis.
        ("7-OH-Mitragynine", "7_hydroxymitragynine"),
        ("7-OH Mitragynine", "7_hydroxymitragynine"),
        ("7α-Hydroxy-7H-mitragynine", "7_hydroxymitragynine"),
        ("Salmonella sp.", "salmonella"),
        ("Yeasts & Moulds", "tymc"),
        ("Total Yeast and Mold (TYM)", "tymc"),
        ("Total Viable Count", "tamc"),
        ("Total Coliform", "coliforms"),
        # Adulterants named by the salt of the reference standard.
        ("Tramadol HCl", "tramadol"),
        ("Tramadol Hydrochloride", "tramadol"),
        ("Fentanyl citrate", "fentanyl"),
        ("Morphine sulfate", "morphine"),
        ("Oxycodone HCl", "oxycodone"),
    ],
)
def test_lab_names_map_to_one_code(name, code):
    assert analyte_code(name) == code


def test_unknown_analyte_names_the_closest_code():
    assert analyte_code("Mitragynin") is None
    assert "did you mean 'mitragynine'" in unknown_analyte_message("Mitragynin").casefold()


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Lot", "batch_id"),
        ("Lot #", "batch_id"),
        ("Batch No.", "batch_id"),
        ("Test", "analyte"),
        ("Compound", "analyte"),
        ("Parameter", "analyte"),
        ("Value", "result"),
        ("Conc.", "result"),
        ("Units", "unit"),
        ("UOM", "unit"),
        ("Replicate", "unit_no"),
        ("Unit #", "unit_no"),
        ("Capsule", "unit_no"),
        ("LAB_ID", "lab_id"),
        # as LIMS exports also name them
        ("Performing Lab", "lab_id"),
        ("Accession #", "sample_id"),
        ("Lab Sample Number", "sample_id"),
        ("Compound Name", "analyte"),
        ("Reported Value", "result"),
        ("MRL", "loq"),
        ("Production Lot", "batch_id"),
        ("Spike Added", "spike_level"),
    ],
)
def test_column_synonyms(header, field):
    assert result_field(header) == field


def test_kind_is_told_by_columns():
    assert guess_kind(["Lot", "Sample", "Test", "Value", "Units", "Lab"]) == "results"
    assert guess_kind(["Batch", "Product ID", "Label claim", "Serving size (g)"]) == "register"
    assert guess_kind(["foo", "bar"]) is None


def test_name_key_folds_micro_and_punctuation():
    assert name_key("µg") == name_key("μg")
    assert name_key("Lot #") == name_key("lot_no") == name_key("Lot No.") == "lotno"
    assert name_key("Unit #") != name_key("Unit")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Method Blank", "blank"),
        ("LRB", "blank"),
        ("LCS", "spike"),
        ("MSD", "spike"),
        ("Matrix Spike Duplicate", "spike"),
        ("LCSD", "spike"),
        ("Dup", "duplicate"),
        ("Client Sample", "production"),
        ("Field Sample", "production"),
        ("Finished Product", "production"),
        ("Raw Material", "production"),
        ("Composite", "production"),
        ("Reference Material", "crm"),
        ("Calibration Check", None),
    ],
)
def test_qc_sample_types_as_labs_write_them(name, code):
    assert sample_type_code(name) == code


def test_an_accession_number_beside_a_sample_id_is_set_aside():
    from kqc.core.columns import map_columns

    found = map_columns(
        ["Lab", "Lot", "Sample ID", "Accession #", "Test", "Result", "Units"], "results"
    )
    assert found.fields["sample_id"] == "Sample ID" and not found.clashes


def test_the_analyte_constants_the_rules_use_are_codes_of_the_vocabulary():
    from kqc.core import vocab

    named = {vocab.MITRAGYNINE, vocab.SEVEN_OH, vocab.LEAD, vocab.ARSENIC}
    named |= {vocab.CADMIUM, vocab.MERCURY, vocab.NICKEL}
    assert named <= set(vocab.ANALYTE_CODES)
    assert vocab.ANALYTES[vocab.SEVEN_OH].group == "alkaloid"
