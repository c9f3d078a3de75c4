"""Stand-in of `modules.shared_state.State`: the job flags long tasks poll."""


class State:
    def __init__(self):
        self.interrupted = False
        self.skipped = False
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.textinfo = None
        self.current_image = None

    def interrupt(self):
        self.interrupted = True

    def begin(self, job: str = "(unknown)"):
        self.job, self.interrupted, self.skipped = job, False, False

    def end(self):
        self.job = ""

    def assign_current_image(self, image):
        self.current_image = image
