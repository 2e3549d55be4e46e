"""The workflow stages: one module per ``workflow/rules/*.smk`` file (paths and config blocks in, files out).

- :mod:`hepmva.stages.apply`  score new ntuples with a study's model bundle (friend trees, templates, plots)
"""
