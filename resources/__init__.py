"""Icons, stylesheets and the demo case recipe (package data)."""
