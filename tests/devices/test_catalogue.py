"""The shipped phone model catalogue and its config file-name conventions."""

from __future__ import annotations

from app.devices.catalogue import config_filename, load_catalogue, pattern_regex, sync_catalogue
from app.devices.models import PhoneModel, PhoneTemplate
from tests.conftest import GraphQLClient

MODELS = "query($f: PhoneModelFilter) { phoneModels(filter: $f) { id vendor name lineCount isDect softwareTypes configFilenamePattern } }"


async def test_catalogue_is_shipped_with_every_vendor(admin: GraphQLClient) -> None:
    models = (await admin.data(MODELS))["phoneModels"]
    assert len(models) >= 40
    names = {(m["vendor"], m["name"]) for m in models}
    for cisco in ("7811", "7821", "7841", "7861", "7941", "7961", "7965",
                  "8811", "8841", "8845", "8851", "8861"):
        assert ("Cisco", cisco) in names
    vendors = {m["vendor"] for m in models}
    assert {"Cisco", "Yealink", "Snom", "Polycom", "Grandstream", "Gigaset"} <= vendors
    dect_vendors = {m["vendor"] for m in models if m["isDect"]}
    assert {"Gigaset", "Yealink", "Snom"} <= dect_vendors
    by_name = {(m["vendor"], m["name"]): m for m in models}
    assert by_name[("Cisco", "8845")]["configFilenamePattern"] == "SEP{MAC}.cnf.xml"
    assert "SCCP" in by_name[("Cisco", "7965")]["softwareTypes"]
    assert by_name[("Yealink", "T46U")]["configFilenamePattern"] == "{mac}.cfg"
    assert by_name[("Yealink", "T46U")]["softwareTypes"] == ["SIP"]
    assert all(m["lineCount"] >= 1 for m in models)


async def test_models_filter_by_vendor_and_dect(admin: GraphQLClient) -> None:
    cisco = (await admin.data(MODELS, {"f": {"vendor": "cisco"}}))["phoneModels"]
    assert cisco and {m["vendor"] for m in cisco} == {"Cisco"}
    dect = (await admin.data(MODELS, {"f": {"isDect": True}}))["phoneModels"]
    assert dect and all(m["isDect"] for m in dect)
    gigaset_dect = (await admin.data(MODELS, {"f": {"vendor": "Gigaset", "isDect": True}}))
    assert {m["name"] for m in gigaset_dect["phoneModels"]} >= {"N870"}
    desk = (await admin.data(MODELS, {"f": {"isDect": False}}))["phoneModels"]
    assert len(desk) + len(dect) == len((await admin.data(MODELS))["phoneModels"])


async def test_model_is_a_node(admin: GraphQLClient) -> None:
    model = (await admin.data(MODELS, {"f": {"vendor": "Snom"}}))["phoneModels"][0]
    data = await admin.data(
        "query($id: ID!) { node(id: $id) { ... on PhoneModel { vendor name } } }", {"id": model["id"]}
    )
    assert data["node"] == {"vendor": "Snom", "name": model["name"]}


async def test_sync_is_idempotent_and_repairs_changed_rows(admin: GraphQLClient) -> None:
    before = await PhoneModel.all().count()
    templates = await PhoneTemplate.all().count()
    await PhoneModel.filter(vendor="Cisco", name="8845").update(line_count=99)
    assert await sync_catalogue() == len(load_catalogue()["models"])
    assert await sync_catalogue() == len(load_catalogue()["models"])
    assert await PhoneModel.all().count() == before
    assert await PhoneTemplate.all().count() == templates
    assert (await PhoneModel.get(vendor="Cisco", name="8845")).line_count == 5


def test_every_model_has_a_config_filename_naming_its_mac() -> None:
    for entry in load_catalogue()["models"]:
        pattern = entry["configFilenamePattern"]
        name = config_filename(pattern, "00A1B2C3D4E5")
        found = pattern_regex(pattern).match(name)
        assert found and found.group("mac").upper() == "00A1B2C3D4E5", pattern


def test_file_name_case_rules() -> None:
    assert config_filename("SEP{MAC}.cnf.xml", "00a1b2c3d4e5") == "SEP00A1B2C3D4E5.cnf.xml"
    assert config_filename("{mac}.cfg", "00A1B2C3D4E5") == "00a1b2c3d4e5.cfg"
    assert pattern_regex("SEP{MAC}.cnf.xml").match("SEP00a1b2c3d4e5.cnf.xml") is None
    assert pattern_regex("{mac}.cfg").match("00A1B2C3D4E5.cfg") is None
    assert pattern_regex("cfg{mac}.xml").match("cfg00a1b2c3d4e5.xml")
    assert pattern_regex("SEP{MAC}.cnf.xml").match("SEP00A1B2C3D4E5xcnf.xml") is None
