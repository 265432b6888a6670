"""What the toolkit knows about label words, shared by inference and training: which offered
label is more general than which (`hierarchy`), from the training sets' taxonomies and WordNet's
noun hypernyms (`wordnet`)."""
