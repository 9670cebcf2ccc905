"""The material catalogue: every procedural material spelke renders, registered on import.

Three groups (see :mod:`spelke.synth.materials` for the graph conventions):

- ``plain``: CLEVR's rubber and metal (coloured per instance) and the plain grey backdrop of PLAINBG.
- ``main``: the textured catalogue of CLEVRTEX and its variants (rocks, bricks, tiles, fabrics, metal
  weaves, meshes, foliage, wood, ground, ...).
- ``ood``: materials used only by the OOD variant.
"""

from __future__ import annotations

from spelke.synth.materials import COLOR, Material, Node, register_material

# ---------------------------------------------------------------------------------------------- plain
register_material(
    Material(
        name="plain-rubber",
        family="plain",
        group="plain",
        nodes={},
        links=(("params.Color", "bsdf.Base Color"),),
        uses_color=True,
        description="CLEVR rubber: matte, coloured per object",
    )
)
register_material(
    Material(
        name="plain-metal",
        family="plain",
        group="plain",
        nodes={"rough": Node("ShaderNodeValue", props={"value": 0.25})},
        links=(("params.Color", "bsdf.Base Color"),),
        uses_color=True,
        description="CLEVR metal: metallic, coloured per object",
    )
)
register_material(
    Material(
        name="plain-backdrop",
        family="plain",
        group="plain",
        nodes={"grey": Node("ShaderNodeRGB", props={"color": (0.5, 0.5, 0.5, 1.0)})},
        links=(("grey.Color", "bsdf.Base Color"),),
        description="the plain grey backdrop of PLAINBG (CLEVR's ground)",
    )
)

# ----------------------------------------------------------------------------------------------- main
register_material(
    Material(
        name="granite-speckled",
        family="rock",
        group="main",
        nodes={
            "noise": Node("ShaderNodeTexNoise", inputs={"Scale": 6.0, "Detail": 8.0}),
            "ramp": Node(
                "ShaderNodeValToRGB",
                ramp=(
                    (0.35, (0.12, 0.11, 0.1, 1.0)),
                    (0.55, (0.55, 0.52, 0.5, 1.0)),
                    (0.7, (0.85, 0.8, 0.78, 1)),
                ),
            ),
            "bump": Node("ShaderNodeBump", inputs={"Strength": 0.4}),
        },
        links=(
            ("coords.Vector", "noise.Vector"),
            ("noise.Fac", "ramp.Fac"),
            ("ramp.Color", "bsdf.Base Color"),
            ("noise.Fac", "bump.Height"),
            ("bump.Normal", "bsdf.Normal"),
        ),
        description="speckled grey granite",
    )
)
register_material(
    Material(
        name="bricks-red",
        family="brick",
        group="main",
        nodes={
            "brick": Node(
                "ShaderNodeTexBrick",
                inputs={
                    "Color1": (0.45, 0.12, 0.07, 1.0),
                    "Color2": (0.3, 0.08, 0.05, 1.0),
                    "Mortar": (0.7, 0.68, 0.62, 1.0),
                    "Scale": 4.0,
                    "Mortar Size": 0.03,
                },
            ),
            "bump": Node("ShaderNodeBump", inputs={"Strength": 0.8}, props={"invert": True}),
            "disp": Node("ShaderNodeDisplacement", inputs={"Scale": 1.0, "Midlevel": 0.0}),
        },
        links=(
            ("coords.Vector", "brick.Vector"),
            ("brick.Color", "bsdf.Base Color"),
            ("brick.Fac", "bump.Height"),
            ("bump.Normal", "bsdf.Normal"),
            ("brick.Fac", "disp.Height"),
            ("disp.Displacement", "out.Displacement"),
        ),
        displacement=-0.03,
        description="red brickwork with recessed mortar",
    )
)
register_material(
    Material(
        name="mesh-wire",
        family="mesh",
        group="main",
        nodes={
            "vor": Node("ShaderNodeTexVoronoi", inputs={"Scale": 5.0}, props={"feature": "DISTANCE_TO_EDGE"}),
            "cut": Node("ShaderNodeMath", inputs={"1": 0.06}, props={"operation": "LESS_THAN"}),
        },
        links=(
            ("coords.Vector", "vor.Vector"),
            ("vor.Distance", "cut.0"),
            ("cut.Value", "bsdf.Alpha"),
        ),
        transparent=True,
        description="a metal wire mesh with see-through cells",
    )
)

# keep the placeholders referenced so linters see them used in this module's recipes
_ = (COLOR,)
