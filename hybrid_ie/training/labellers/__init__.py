"""Rule-based labellers that make training sets from unlabelled text: `measures` (quantities,
times, dates; `measure_patterns.json`), `actions` (verbs typed from WordNet, optional verb ->
measure links; `action_links*.json`), `nouns` (common nouns typed by WordNet hypernyms;
`noun_labels.json`, `noun_links.json`)."""
