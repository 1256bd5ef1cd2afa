"""What the quantisation passes share: which layers they take, how they are counted and saved.

The passes themselves (int8, int8wo, bnb8, nf4) live in optimize/passes/; their variant
format in optimize/formats/quantised.py (its name, like every format's, in formats/names.py).
"""
