"""The product and its shell: the pipeline (:mod:`.pipeline`, its :mod:`.stages` and :mod:`.outputs`) at the top;
the command line (:mod:`.commands`), the evaluation (:mod:`.evaluation`), pictures (:mod:`.render`), benchmarks
(:mod:`.benchmarks`) and the demo (:mod:`.demo`) in wings around it. Only this package parses arguments, lays out
output folders, renders and reads the environment."""
