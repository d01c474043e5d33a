"""Playing the network itself: model mixing (netmix.py); bending and layer views come here too."""
