"""Text encoding: the CLIP tokenizer (shipped MIT vocabulary), ComfyUI prompt syntax, the CLIP value.

``prompt.parse_weights`` / ``prompt.tokenize`` implement the syntax and 77-token chunking;
``clip.Clip.encode(text)`` and ``Clip.encode_texts({"clip_g": ..., "clip_l": ...})`` produce
``ConditioningEntry`` values.
"""
