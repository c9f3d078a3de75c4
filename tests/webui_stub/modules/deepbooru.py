"""Stand-in of `modules.deepbooru`: the DeepDanbooru tagger's start/tag_multi/stop interface.

Instead of a neural network it reports the image's dominant colour channel as a tag, and records
calls so tests can check the model is started once per run and stopped at the end.
"""


class DeepDanbooru:
    def __init__(self):
        self.calls = []
        self.on_device = False

    def start(self):
        self.calls.append("start")
        self.on_device = True

    def stop(self):
        self.calls.append("stop")
        self.on_device = False

    def tag_multi(self, pil_image, force_disable_ranks=False):
        if not self.on_device:
            raise RuntimeError("DeepDanbooru used before start()")
        self.calls.append("tag")
        means = [sum(band.getdata()) / (pil_image.width * pil_image.height) for band in pil_image.convert("RGB").split()]
        return ["red", "green", "blue"][means.index(max(means))] + ", solo"


model = DeepDanbooru()
