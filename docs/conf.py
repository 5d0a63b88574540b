"""Sphinx settings of the course website (``make site``).

``docs/build_site.py`` stages the sources (the README, the executed notebooks in
``build/``, the data set and benchmarks pages, ``api.md``) next to a copy of this file and
runs Sphinx on them; ``site.json``, written there by the same script, carries the
repository's address and branch.
"""

import json
from pathlib import Path

SITE = json.loads((Path(__file__).parent / "site.json").read_text())

project = "Fully Convolutional Networks for semantic segmentation, in PyTorch"
html_title = "FCN course"
author = "the course's authors"
copyright = "the course's authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks ran before (make course, or make test's nbval); the site shows their outputs.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # widgets are replaced by still pictures: no widget JavaScript from a CDN
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_extra_path = ["_extra"]  # the learners' notebooks, for the download links
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": SITE["repository"],
    "repository_branch": SITE["branch"],
    "use_repository_button": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
