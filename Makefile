# CloudFree: `make demo` masks the bundled real sample, `make test` runs every test.
# Both install what is missing first (Debian packages, .venv), so each works alone
# on a fresh Debian 12 machine run as root.
VENV ?= $(or $(CLOUDFREE_VENV),.venv)
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup setup-demo teachers demo test lint test-core bench-memory bench-speed bench-masks bench-reconstruction mutation training-data models evaluate-models package clean

setup:
	bash scripts/setup.sh

# Only what masking needs (no QGIS, no PyTorch): a newcomer's first mask does not wait for the rest.
setup-demo:
	bash scripts/setup.sh demo

demo: setup-demo
	mkdir -p out/demo
	$(PY) -m cloudfree cloudmask sample/sen12mscr_cloudy_l1c.tif -o out/demo/sample_mask.tif \
		--confidence out/demo/sample_confidence.tif
	@echo "Styled outputs (open in QGIS; the .qml beside each applies the style):"
	@echo "  $(CURDIR)/out/demo/sample_mask.tif        classes 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 255 no data"
	@echo "  $(CURDIR)/out/demo/sample_confidence.tif  per-class confidence in percent (4 bands; shown thick red, thin green, shadow blue)"

test: setup lint
	$(PY) -m pytest -q test

# ruff (ruff.toml) on everything, mypy (pyproject.toml) on the engine.
lint: setup
	$(VENV)/bin/ruff check .
	cd build/plugins && $(abspath $(VENV))/bin/mypy --config-file ../../pyproject.toml -p cloudfree.core

test-core: setup
	$(PY) -m pytest -q test/core test/cli test/dependencies test/architecture -p no:pytest_qgis

bench-memory: setup
	$(PY) bench/peak_memory.py

# Seconds per full-size synthetic L1C scene at 20 m and 10 m, by pipeline stage (builds the scene once).
bench-speed: setup
	$(PY) bench/scene_speed.py --json out/bench/scene_speed.json

# The teachers (ukis-csmask, s2cloudless) are only for training data and benchmarks,
# pinned so they keep the numpy 1 that Debian's GDAL needs.
teachers: setup
	$(PY) -m pip install -q -r requirements-teachers.txt

# False alarms of every method on clear real scenes (the three clear eo-learn dates).
bench-clear: teachers
	$(PY) bench/clear_scenes.py --json out/bench/clear_scenes.json

bench-reconstruction: setup
	$(PY) bench/reconstruction.py --json out/bench/reconstruction.json \
	    --multidate-model bench/models/multidate_heldout_eolearn.onnx --multidate-model bench/models/multidate_heldout_worldcereal.onnx

# Mutation score of the pixel-deciding modules (bench/mutation_score.py: curated mutants in a sandbox copy,
# the tests of each module; 20-40 min on 2 cores). Not part of `make test`.
mutation: setup
	OMP_NUM_THREADS=1 $(PY) bench/mutation_score.py --json out/bench/mutation.json

bench-masks: teachers
	$(PY) bench/compare_masks.py --threads 2 --json out/bench/compare_masks.json

# Retrain the bundled models from ../shared/data with the leave-one-dataset-out protocol
# (models/README.md; about 3 hours on 2 CPU cores, resumable: run it again after a stop).
training-data: teachers
	$(PY) -m cloudfree.models.prepare_training_data out/training/scenes.npz --human out/training/human.npz

models: training-data
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_s2 --epochs 45
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_bgrn --epochs 20 \
		--base-only
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_bgrn \
		--workdir out/training_long --warm-start out/training --epochs 30 --ft-epochs 12
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_bgrn \
		--workdir out/training_coarse --warm-start out/training_long --epochs 12 --coarse-fraction 0.3
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_rgb --epochs 20
	$(PY) -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz --only cloudfree_rgb \
		--workdir out/training_coarse --warm-start out/training --epochs 12 --coarse-fraction 0.3
	$(PY) -m cloudfree.models.recalibrate_bundled --write
	$(PY) -m cloudfree.models.train_reconstruction out/training/scenes.npz --steps 2400 --minutes 58 --only-unet
	$(MAKE) evaluate-models

# Accuracy and throughput of the bundled models against ukis-csmask, s2cloudless and SCL,
# then the accuracy copied into the model cards.
evaluate-models: bench-masks
	$(PY) -m cloudfree.models.evaluate_bundled --from-json out/bench/compare_masks.json

# The zip to install with QGIS's Plugins > Manage and Install Plugins > Install from ZIP:
# code, styles and bundled models; no tests, benchmarks, sample data or training scripts.
package: setup
	$(PY) scripts/package.py

clean:
	rm -rf out build
