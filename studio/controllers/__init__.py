"""Controllers: QObjects (no widgets) that own connections, runners, tasks and locks; panels are their views."""
