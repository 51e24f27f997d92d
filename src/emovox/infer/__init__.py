"""From a model on disk to an answer: the torch and NumPy engines, the analyzer around them
(speech detection, timelines, honest answers), the result, its pictures and export formats."""
