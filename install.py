"""Run by the webui at start-up (PYTHONPATH = webui root): install only what the webui lacks.

The webui already ships everything the extension needs (torch, safetensors, numpy, Pillow,
fastapi, gradio), so this normally prints nothing and installs nothing.
"""
import launch

# (importable module or distribution name, pip requirement)
# torch is left out on purpose: the webui installs the build that matches the GPU.
REQUIREMENTS = (
    ("safetensors", "safetensors"),
    ("numpy", "numpy"),
    ("PIL", "Pillow"),
)


def missing(requirements=REQUIREMENTS):
    return [spec for module, spec in requirements if not launch.is_installed(module)]


def install(requirements=REQUIREMENTS):
    for spec in missing(requirements):
        launch.run_pip(f'install "{spec}"', f"{spec} for hypernet-ext")


if __name__ == "__main__":
    install()
