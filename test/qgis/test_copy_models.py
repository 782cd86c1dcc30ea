"""The shipped graphical models copied into the user's models: editable copies, never over a user's file."""
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("cloudfree_provider")
SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models"


def test_copies_are_models_of_their_own_and_never_overwrite(tmp_path):
    import processing
    from qgis.core import QgsProcessingModelAlgorithm

    mine = tmp_path / "my models"
    mine.mkdir()
    (mine / "mask_and_reconstruct_my_copy.model3").write_text("a file of the user's")
    first = processing.run("cloudfree:copymodels", {"FOLDER": str(mine)})["COPIED"]
    second = processing.run("cloudfree:copymodels", {"FOLDER": str(mine)})["COPIED"]
    shipped = sorted(SHIPPED.glob("*.model3"))
    assert len(first) == len(second) == len(shipped) >= 1
    assert (mine / "mask_and_reconstruct_my_copy.model3").read_text() == "a file of the user's"
    assert [Path(p).name for p in first] == ["mask_and_reconstruct_my_copy_2.model3"]
    assert [Path(p).name for p in second] == ["mask_and_reconstruct_my_copy_3.model3"]
    original, copy = QgsProcessingModelAlgorithm(), QgsProcessingModelAlgorithm()
    assert original.fromFile(str(shipped[0])) and copy.fromFile(first[0])
    assert copy.name() == original.name() + " (my copy)"
    assert sorted(copy.childAlgorithms()) == sorted(original.childAlgorithms())
    assert [p.name() for p in copy.parameterDefinitions()] == [p.name() for p in original.parameterDefinitions()]
