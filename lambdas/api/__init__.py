"""The jobs API: upload and job services over the repository, upload store and workflow ports; routes, answers."""
