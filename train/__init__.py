"""The training room: generated question-answer data and a trained reader. Nothing on the question path imports it."""
