# The two commands of the README.
.PHONY: demo test
demo:   ## set up and start the product in demo mode
	bash scripts/demo.sh
test:   ## run every test (what CI runs)
	bash scripts/test.sh
