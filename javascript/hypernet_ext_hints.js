// hypernet-ext: tooltips for this extension's general settings, in the webui's `titles` convention
// (the training defaults' hints are generated from the option declarations and shown under their labels)
// (hints.js shows titles[label] as the tooltip of any element whose text is that label).
(function() {
    var hypernetExtTitles = {
        "Extra hypernetwork folders": "One folder per line (or separated by ';'); searched after the webui's --hypernetwork-dir. Files are found in subfolders too.",
        "Default hypernetwork strength": "Strength used for <hypernet:name> tags without a weight, and inserted when you click a hypernetwork card.",
        "Largest allowed strength (0 = no limit)": "Tag weights beyond +/- this value are clamped to it and a warning is shown. 0 turns the limit off.",
        "Refuse hypernetwork files larger than (MB, 0 = no limit)": "Files bigger than this are not loaded. Hypernetworks are usually a few to a few hundred MB; a multi-GB file is probably a checkpoint in the wrong folder.",
        "Warn when a hypernetwork does not fit the loaded model": "Warn when none of a hypernetwork's attention widths exists in the loaded checkpoint, e.g. an SD1 (768) hypernetwork on SD2 (1024) or SDXL (2048).",
        "Add hypernetwork names, strengths and hashes to infotext": "Writes a 'Hypernet hashes' field to the generation parameters; pasting it back finds renamed files by their hash."
    };

    function addHypernetExtTitles() {
        if (typeof titles === "undefined") {
            return;
        }
        for (var label in hypernetExtTitles) {
            if (!(label in titles)) {
                titles[label] = hypernetExtTitles[label];
            }
        }
    }

    if (typeof onUiLoaded === "function") {
        onUiLoaded(addHypernetExtTitles);
    } else {
        document.addEventListener("DOMContentLoaded", addHypernetExtTitles);
    }
})();
