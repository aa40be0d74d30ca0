"""Run inside Blender: `blender -b --factory-startup -P blender_views.py -- WORLD_SCRIPT OUT SIZE`.

Runs an exported `blender_world.py`, then renders the world alone with Cycles on the CPU
from a 90-degree camera at the origin along +Y, +X, -Y, -X (the panorama's yaw 0, 90,
180, 270), +Z and -Z, into OUT/view_<name>.png; the up vectors match
`cubemap.perspective` (at pitch +-90 the image's top points back to / towards yaw 0).
"""

import math
import runpy
import sys

import bpy

world_script, out, size = sys.argv[sys.argv.index("--") + 1:][:3]
runpy.run_path(world_script, run_name="__main__")
scene = bpy.context.scene
for obj in list(scene.objects):  # the factory startup's cube, light and camera
    bpy.data.objects.remove(obj, do_unlink=True)
cam = bpy.data.objects.new("view", bpy.data.cameras.new("view"))
scene.collection.objects.link(cam)
scene.camera = cam
cam.location = (0, 0, 0)
cam.data.sensor_fit = "HORIZONTAL"
cam.data.angle = math.radians(90)
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.cycles.use_denoising = False
scene.cycles.max_bounces = 0  # nothing but the world: camera rays only
scene.world.cycles.sampling_method = "NONE"  # no importance map of the world to build
scene.render.threads_mode = "FIXED"
scene.render.threads = 2
scene.render.resolution_x = scene.render.resolution_y = int(size)
scene.render.resolution_percentage = 100
scene.render.filter_size = 0.01  # no pixel filter: sharp like a bilinear lookup
scene.view_settings.view_transform = "Standard"
scene.view_settings.look = "None"
scene.render.image_settings.file_format = "PNG"
# camera looks along its -Z with +Y up; Euler (90 + pitch, 0, -yaw) turns it to the view
for name, yaw, pitch in (("yaw0", 0, 0), ("yaw90", 90, 0), ("yaw180", 180, 0),
                         ("yaw270", 270, 0), ("up", 0, 90), ("down", 0, -90)):
    cam.rotation_euler = (math.radians(90 + pitch), 0.0, math.radians(-yaw))
    scene.render.filepath = f"{out}/view_{name}.png"
    bpy.ops.render.render(write_still=True)
