"""The Qt desktop application: windows, viewers, tools, undo commands.

Thin over ``dicomio`` and ``measure``: it observes the ``Case`` model and turns every user
action into an undoable command.
"""
