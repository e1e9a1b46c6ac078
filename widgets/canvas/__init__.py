"""The model canvas: the graph drawn as node cards and curves."""
