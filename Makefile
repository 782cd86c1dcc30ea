# CloudFree: `make demo` masks the bundled real sample, `make test` runs every test.
# Both install what is missing first (Debian packages, .venv), so each works alone
# on a fresh Debian 12 machine run as root.
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup demo test test-core bench-memory models clean

setup:
	bash scripts/setup.sh

demo: setup
	mkdir -p out/demo
	$(PY) -m cloudfree cloudmask sample/sen12mscr_cloudy_l1c.tif -o out/demo/sample_mask.tif \
		--confidence out/demo/sample_confidence.tif --resolution 20
	@echo "Styled outputs (open in QGIS; the .qml beside each applies the style):"
	@echo "  $(CURDIR)/out/demo/sample_mask.tif        classes 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 255 no data"
	@echo "  $(CURDIR)/out/demo/sample_confidence.tif  per-class confidence in percent (4 bands)"

test: setup
	$(PY) -m pytest -q test

test-core: setup
	$(PY) -m pytest -q test/core -p no:pytest_qgis

bench-memory: setup
	$(PY) bench/peak_memory.py

models: setup
	$(PY) models/build_spectral_baseline.py

clean:
	rm -rf out build
