"""Stand-in of the paste path of `modules.infotext_utils`: legacy fields, then the pasted callbacks."""
from modules import script_callbacks


def parse_generation_parameters(x: str) -> dict:
    """Prompt lines, then a last line of `Key: value` pairs, as the webui writes infotext."""
    lines = x.strip().split("\n")
    params_line = lines[-1] if len(lines) > 1 and ": " in lines[-1] else ""
    prompt_lines = lines[:-1] if params_line else lines
    res: dict = {}
    negative = [ln[len("Negative prompt: "):] for ln in prompt_lines if ln.startswith("Negative prompt: ")]
    res["Prompt"] = "\n".join(ln for ln in prompt_lines if not ln.startswith("Negative prompt: "))
    res["Negative prompt"] = negative[0] if negative else ""
    for key, value in _split_params(params_line):
        res[key] = value
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] += f"""<hypernet:{hypernet}:{res.get("Hypernet strength", "1.0")}>"""
    script_callbacks.infotext_pasted_callback(x, res)
    return res


def _split_params(line: str):
    """`k: v, k: "quoted, value", ...` -> pairs."""
    pairs, key, buf, quoted = [], None, "", False
    i = 0
    while i <= len(line):
        ch = line[i] if i < len(line) else ","
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and key is None and not quoted:
            key, buf = buf.strip(), ""
            i += 1
            continue
        elif ch == "," and not quoted:
            if key is not None:
                value = buf.strip()
                pairs.append((key, value[1:-1] if value.startswith('"') and value.endswith('"') else value))
            key, buf = None, ""
            i += 1
            continue
        buf += ch
        i += 1
    return pairs
