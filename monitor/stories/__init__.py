"""Stories: copies of one report across feeds, folded so that a story alerts once per rule."""
