"""A small script with the mistakes linters catch most often."""
import os
import sys
import json


def load_settings(path):
    try:
        with open(path) as fh:
            data = json.load(fh)
    except:
        data = {}
    if data.get("debug") == None:
        data["debug"] = False
    return data


def greet(name):
    message = f"Hello!"
    return "Hello, " + nmae


square = lambda x: x * x
