"""Stand-in of `modules.interrogate.InterrogateModels` (the BLIP captioner's load/generate/unload)."""


class InterrogateModels:
    def __init__(self, content_dir="interrogate"):
        self.calls = []
        self.blip_model = None

    def load(self):
        self.calls.append("load")
        self.blip_model = "blip"

    def send_blip_to_ram(self):
        self.calls.append("blip to ram")

    def unload(self):
        self.calls.append("unload")

    def generate_caption(self, pil_image):
        if self.blip_model is None:
            raise RuntimeError("BLIP used before load()")
        self.calls.append("caption")
        return f"a picture of size {pil_image.width}x{pil_image.height}"
